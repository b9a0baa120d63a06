import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport } from './index.js';

// A producer killed with -9 in the middle of a transaction: readers of committed data never see its
// partial batch, and a successor with the same transactional id aborts it at once and carries on.
const FIXTURE = fileURLToPath(new URL('./__fixtures__/open-transaction.mjs', import.meta.url));

let kafka: ServiceEndpoints['kafka'];
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
}, 300_000);

describe('Kafka transport: kill -9 mid-transaction', () => {
  it('leaves no partial batch visible to read_committed consumers', async () => {
    const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
    const topic = `crash-${suffix}`;
    const transactionalId = `crash-${suffix}`;
    const transport = await KafkaTransport.connect({ brokers: kafka.brokers });
    try {
      await transport.ensureTopic(topic, { partitions: 3 });
      const child = spawn(process.execPath, [FIXTURE, kafka.brokers.join(','), topic, transactionalId], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('sent')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`fixture exited with ${code} before sending`)));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));

      const successor = transport.transactionalProducer!(transactionalId);
      const tx = await successor.begin();
      await tx.send([{ topic, key: Buffer.from('after'), value: Buffer.from('after-crash') }]);
      await tx.commit();
      await successor.close();
      // The partial batch reached the log (the end offsets, which stop at the first open transaction, now
      // count its 500 records, aborted by the successor) but no reader sees it.
      const described = await transport.describeTopic(topic);
      expect(described!.endOffsets.reduce((a, b) => a + b, 0)).toBeGreaterThan(550);

      const consumer = transport.consumer({ group: `${topic}-reader`, topics: [topic] });
      const values: string[] = [];
      const deadline = Date.now() + 30_000;
      const done = () =>
        values.includes('after-crash') && values.filter((v) => v.startsWith('committed-')).length >= 50;
      while (!done() && Date.now() < deadline) {
        values.push(
          ...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 500 })).map((r) => r.value!.toString()),
        );
      }
      values.push(
        ...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 1000 })).map((r) => r.value!.toString()),
      );
      await consumer.close();
      expect(values.filter((v) => v.startsWith('partial-'))).toEqual([]);
      expect(values.filter((v) => v.startsWith('committed-'))).toHaveLength(50);
      expect(values).toContain('after-crash');
    } finally {
      await transport.close();
    }
  }, 120_000);
});
