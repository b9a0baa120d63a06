import { describe, expect, it } from 'vitest';
import { assignPartitions, copartitionedAssignment, type TopicPartition } from './consumer-group.js';

const counts = new Map([
  ['orders', 4],
  ['users', 3],
]);
const partitionCount = (topic: string) => counts.get(topic);

/** A group member as the assignor sees it. */
const member = (
  memberId: number,
  topics: string[],
  { exclusive = false, copartitioned = false, holding = [] as TopicPartition[] } = {},
) => ({ memberId, topics, exclusive, copartitioned, assignment: () => holding });

describe('assignPartitions', () => {
  it('gives a lone member every partition of its topics', () => {
    const result = assignPartitions([member(1, ['orders'])], partitionCount);
    expect(result.get(1)?.map((tp) => tp.partition)).toEqual([0, 1, 2, 3]);
  });

  it('splits each topic in contiguous ranges, earlier members taking the extra partitions', () => {
    const result = assignPartitions(
      [member(1, ['orders', 'users']), member(2, ['orders', 'users'])],
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
        member(1, ['users']),
        member(2, ['orders']),
        member(3, ['users']),
        member(4, ['users']),
        member(5, ['users']),
      ],
      partitionCount,
    );
    expect(result.get(2)?.length).toBe(4);
    expect([1, 3, 4, 5].map((m) => result.get(m)?.length)).toEqual([1, 1, 1, 0]);
  });

  it('assigns nothing for a topic that does not exist yet', () => {
    expect(assignPartitions([member(1, ['later'])], partitionCount).get(1)).toEqual([]);
  });

  it('gives an exclusive group every partition of its topics on one member: the holder, else the first', () => {
    const all = [
      ...[0, 1, 2, 3].map((partition) => ({ topic: 'orders', partition })),
      ...[0, 1, 2].map((partition) => ({ topic: 'users', partition })),
    ];
    const fresh = assignPartitions(
      [
        member(1, ['orders', 'users'], { exclusive: true }),
        member(2, ['orders', 'users'], { exclusive: true }),
      ],
      partitionCount,
    );
    expect(fresh.get(1)).toEqual(all);
    expect(fresh.get(2)).toEqual([]);
    // A member joining before the holder in the list does not take the partitions from it.
    const later = assignPartitions(
      [
        member(3, ['orders', 'users'], { exclusive: true }),
        member(1, ['orders', 'users'], { exclusive: true, holding: all }),
      ],
      partitionCount,
    );
    expect(later.get(1)).toEqual(all);
    expect(later.get(3)).toEqual([]);
  });

  it('gives a co-partitioned group whole partition numbers: partition p of every topic to one member', () => {
    const numbers = (tps: readonly TopicPartition[] | undefined) =>
      [...new Set(tps?.map((tp) => tp.partition))].sort();
    const two = assignPartitions(
      [
        member(1, ['orders', 'users'], { copartitioned: true }),
        member(2, ['orders', 'users'], { copartitioned: true }),
      ],
      partitionCount,
    );
    // Numbers 0-1 and 2-3; users has no partition 3, so member 2 holds users/2 only.
    expect(two.get(1)).toEqual([
      { topic: 'orders', partition: 0 },
      { topic: 'orders', partition: 1 },
      { topic: 'users', partition: 0 },
      { topic: 'users', partition: 1 },
    ]);
    expect(two.get(2)).toEqual([
      { topic: 'orders', partition: 2 },
      { topic: 'orders', partition: 3 },
      { topic: 'users', partition: 2 },
    ]);
    const three = assignPartitions(
      [1, 2, 3].map((id) => member(id, ['orders', 'users'], { copartitioned: true })),
      partitionCount,
    );
    expect([1, 2, 3].map((id) => numbers(three.get(id)))).toEqual([[0, 3], [1], [2]]);
  });

  it('moves as few partition numbers as an even share allows when a member joins or leaves', () => {
    const counts = new Map([['orders', 12]]);
    const numbers = (tps: readonly TopicPartition[] | undefined) => tps?.map((tp) => tp.partition) ?? [];
    const held = new Map<string, number[]>([
      ['a', [0, 1, 2, 3, 4, 5]],
      ['b', [6, 7, 8, 9, 10, 11]],
    ]);
    // A third member takes two numbers from each of the others; they keep the rest.
    const three = copartitionedAssignment(['a', 'b', 'c'], counts, (m) => held.get(m) ?? []);
    expect(numbers(three.get('a'))).toEqual([0, 1, 2, 3]);
    expect(numbers(three.get('b'))).toEqual([6, 7, 8, 9]);
    expect(numbers(three.get('c'))).toEqual([4, 5, 10, 11]);
    // The first leaves: its numbers go to the others, who keep theirs.
    const now = new Map([...three].map(([m, tps]) => [m, numbers(tps)]));
    const two = copartitionedAssignment(['b', 'c'], counts, (m) => now.get(m) ?? []);
    expect(numbers(two.get('b'))).toEqual([0, 1, 6, 7, 8, 9]);
    expect(numbers(two.get('c'))).toEqual([2, 3, 4, 5, 10, 11]);
    // A member claiming more than its share, or numbers another kept first, gets its share only.
    const greedy = copartitionedAssignment(['x', 'y'], new Map([['t', 4]]), () => [0, 1, 2, 3]);
    expect(numbers(greedy.get('x'))).toEqual([0, 1]);
    expect(numbers(greedy.get('y'))).toEqual([2, 3]);
  });

  it('leaves members beyond the number of partitions without any in a co-partitioned split', () => {
    const split = copartitionedAssignment(['a', 'b', 'c'], new Map([['orders', 2]]));
    expect(split.get('a')).toEqual([{ topic: 'orders', partition: 0 }]);
    expect(split.get('b')).toEqual([{ topic: 'orders', partition: 1 }]);
    expect(split.get('c')).toEqual([]);
  });
});
