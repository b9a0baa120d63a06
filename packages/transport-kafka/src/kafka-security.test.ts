import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport, KafkaTransportError, type KafkaTransportOptions } from './index.js';

// SASL/SCRAM and TLS against the broker's real secured listeners; wrong secrets and unreachable brokers
// fail fast with errors that say what to check.
let kafka: ServiceEndpoints['kafka'];
let ca: string;
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
  ca = readFileSync(kafka.tls.caFile, 'utf8');
}, 300_000);

async function roundTrip(options: KafkaTransportOptions): Promise<string[]> {
  const transport = await KafkaTransport.connect(options);
  try {
    const topic = `secure-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
    await transport.ensureTopic(topic, { partitions: 1 });
    const producer = transport.producer();
    await producer.send([{ topic, key: Buffer.from('k'), value: Buffer.from('secret payload') }]);
    await producer.close();
    const consumer = transport.consumer({ group: `${topic}-group`, topics: [topic] });
    const values: string[] = [];
    const deadline = Date.now() + 20_000;
    while (values.length === 0 && Date.now() < deadline) {
      const records = await consumer.poll({ maxRecords: 10, maxWaitMs: 500 });
      values.push(...records.map((r) => r.value!.toString()));
    }
    await consumer.close();
    return values;
  } finally {
    await transport.close();
  }
}

async function connectError(options: KafkaTransportOptions): Promise<Error> {
  const started = Date.now();
  const error = await KafkaTransport.connect(options).then(
    async (t) => {
      await t.close();
      throw new Error('connected although it should not have');
    },
    (e: unknown) => e as Error,
  );
  return Object.assign(error, { seconds: (Date.now() - started) / 1000 });
}

describe('Kafka transport: secure connections', () => {
  it.each(['scram-sha-256', 'scram-sha-512'] as const)(
    'produces and consumes over SASL/%s',
    async (mechanism) => {
      const values = await roundTrip({ brokers: kafka.saslBrokers, sasl: { mechanism, ...kafka.sasl } });
      expect(values).toEqual(['secret payload']);
    },
    60_000,
  );

  it('produces and consumes over TLS, trusting the test CA', async () => {
    expect(await roundTrip({ brokers: kafka.tlsBrokers, tls: { ca: [ca] } })).toEqual(['secret payload']);
  }, 60_000);

  it('refuses a wrong password with an error naming the user, not the password', async () => {
    const error = await connectError({
      brokers: kafka.saslBrokers,
      sasl: { mechanism: 'scram-sha-256', username: kafka.sasl.username, password: 'not-the-password' },
      retries: 1,
    });
    expect(error).toBeInstanceOf(KafkaTransportError);
    expect(error.message).toMatch(/refused the credentials of user "datamesh" \(scram-sha-256\)/);
    expect(error.message).not.toContain('not-the-password');
  }, 60_000);

  it('refuses a broker certificate it cannot verify', async () => {
    const error = await connectError({ brokers: kafka.tlsBrokers, tls: {}, retries: 1 });
    expect(error).toBeInstanceOf(KafkaTransportError);
    expect(error.message).toMatch(/TLS handshake with Kafka at 127\.0\.0\.1:59095 failed/);
  }, 60_000);

  it('gives up on an unreachable broker after bounded retries with backoff', async () => {
    const error = (await connectError({
      brokers: ['127.0.0.1:1'],
      retries: 2,
      connectionTimeoutMs: 1000,
    })) as Error & { seconds: number };
    expect(error).toBeInstanceOf(KafkaTransportError);
    expect(error.message).toMatch(/cannot reach Kafka at 127\.0\.0\.1:1 .*retried with backoff 2 times/);
    expect(error.seconds).toBeLessThan(30);
  }, 60_000);
});
