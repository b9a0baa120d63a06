import { describe, expect, it } from 'vitest';
import { KafkaTransport } from './index.js';
import { groupMessagesPerPartition, linearGroupingInstalled } from './kafkajs-linear-grouping.js';

describe("kafkajs's grouping of messages by partition", () => {
  it('is the linear one once the package is loaded', () => {
    expect(KafkaTransport).toBeDefined();
    expect(linearGroupingInstalled()).toBe(true);
  });

  it('groups by the partitioner, keeping the order within each partition', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => (message.i * 7) % 3,
    });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2']);
    for (const [partition, list] of Object.entries(grouped)) {
      expect(list.every(({ i }) => (i * 7) % 3 === Number(partition))).toBe(true);
      expect(list.map(({ i }) => i)).toEqual([...list.map(({ i }) => i)].sort((a, b) => a - b));
    }
    expect(Object.values(grouped).reduce((n, list) => n + list.length, 0)).toBe(1000);
  });

  it('answers nothing for a topic without partition metadata, as kafkajs does', () => {
    expect(
      groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages: [1], partitioner: () => 0 }),
    ).toEqual({});
  });
});
