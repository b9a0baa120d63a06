import { describe, expect, it } from 'vitest';
import { assignPartitions } from './consumer-group.js';

const counts = new Map([
  ['orders', 4],
  ['users', 3],
]);
const partitionCount = (topic: string) => counts.get(topic);

describe('assignPartitions', () => {
  it('gives a lone member every partition of its topics', () => {
    const result = assignPartitions([{ memberId: 1, topics: ['orders'] }], partitionCount);
    expect(result.get(1)?.map((tp) => tp.partition)).toEqual([0, 1, 2, 3]);
  });

  it('splits each topic in contiguous ranges, earlier members taking the extra partitions', () => {
    const result = assignPartitions(
      [
        { memberId: 1, topics: ['orders', 'users'] },
        { memberId: 2, topics: ['orders', 'users'] },
      ],
      partitionCount,
    );
    expect(result.get(1)).toEqual([
      { topic: 'orders', partition: 0 },
      { topic: 'orders', partition: 1 },
      { topic: 'users', partition: 0 },
      { topic: 'users', partition: 1 },
    ]);
    expect(result.get(2)).toEqual([
      { topic: 'orders', partition: 2 },
      { topic: 'orders', partition: 3 },
      { topic: 'users', partition: 2 },
    ]);
  });

  it('only assigns a topic to the members subscribed to it, and leaves extra members idle', () => {
    const result = assignPartitions(
      [
        { memberId: 1, topics: ['users'] },
        { memberId: 2, topics: ['orders'] },
        { memberId: 3, topics: ['users'] },
        { memberId: 4, topics: ['users'] },
        { memberId: 5, topics: ['users'] },
      ],
      partitionCount,
    );
    expect(result.get(2)?.length).toBe(4);
    expect([1, 3, 4, 5].map((m) => result.get(m)?.length)).toEqual([1, 1, 1, 0]);
  });

  it('assigns nothing for a topic that does not exist yet', () => {
    expect(assignPartitions([{ memberId: 1, topics: ['later'] }], partitionCount).get(1)).toEqual([]);
  });
});
