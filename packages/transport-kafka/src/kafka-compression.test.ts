import { beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport, type Compression } from './index.js';

// The broker decompresses every batch it accepts to validate it, so a codec Kafka cannot read fails the send.
let kafka: ServiceEndpoints['kafka'];
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
}, 300_000);

describe('Kafka transport: compression', () => {
  it.each(['gzip', 'lz4', 'zstd'] as const)(
    'writes %s batches the broker accepts and reads them back',
    async (compression: Compression) => {
      const transport = await KafkaTransport.connect({ brokers: kafka.brokers, compression });
      try {
        const topic = `compressed-${compression}-${Date.now().toString(36)}`;
        await transport.ensureTopic(topic, { partitions: 2 });
        const producer = transport.producer();
        const values = Array.from({ length: 2000 }, (_, i) =>
          `order ${i} for customer ${i % 37}: `.repeat(8),
        );
        await producer.send(
          values.map((v, i) => ({ topic, key: Buffer.from(`k${i}`), value: Buffer.from(v) })),
        );
        await producer.close();
        const consumer = transport.consumer({ group: `${topic}-group`, topics: [topic] });
        const read: string[] = [];
        const deadline = Date.now() + 20_000;
        while (read.length < values.length && Date.now() < deadline) {
          read.push(
            ...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 500 })).map((r) => r.value!.toString()),
          );
        }
        await consumer.close();
        expect(read.sort()).toEqual([...values].sort());
      } finally {
        await transport.close();
      }
    },
    60_000,
  );
});
