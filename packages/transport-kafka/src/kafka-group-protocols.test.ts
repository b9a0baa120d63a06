import { beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport } from './index.js';

// Two nodes that run one task different ways (one node at a time, or once per partition) join its consumer group
// with different assignors, which Kafka refuses: the one refused says what is wrong and what to do.

let kafka: ServiceEndpoints['kafka'];
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
}, 300_000);

describe('Kafka transport: a group joined with another assignor', () => {
  it('fails the newcomer with an error that names the cause and the fix', async () => {
    const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
    const topic = `protocols-${suffix}`;
    const group = `protocols-group-${suffix}`;
    const transport = await KafkaTransport.connect({ brokers: kafka.brokers });
    await transport.ensureTopic(topic, { partitions: 2 });
    const holder = transport.consumer({ group, topics: [topic], exclusive: true });
    let newcomer: ReturnType<typeof transport.consumer> | undefined;
    try {
      // A consumer joins as soon as it is made: the newcomer only once the holder's group stands.
      await holder.poll({ maxRecords: 1, maxWaitMs: 100 });
      newcomer = transport.consumer({ group, topics: [topic], copartitioned: true });
      let failure: unknown;
      const deadline = Date.now() + 60_000;
      while (failure === undefined && Date.now() < deadline) {
        try {
          await newcomer.poll({ maxRecords: 1, maxWaitMs: 500 });
        } catch (error) {
          failure = error;
        }
      }
      expect((failure as Error | undefined)?.message).toBe(
        `consumer group "${group}" has a member that splits its partitions another way: another node runs this ` +
          `task differently (on one node at a time, or once per input partition). That follows from the task's ` +
          `processors (their plugin versions) and its topics' partition counts: run every node with the same ` +
          `plugins, and let this node retry once the others match`,
      );
      expect(holder.assignment()).toHaveLength(2);
    } finally {
      await newcomer?.close().catch(() => undefined);
      await holder.close();
      await transport.close();
    }
  }, 120_000);
});
