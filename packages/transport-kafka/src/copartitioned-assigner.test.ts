import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { copartitionedAssigner } from './copartitioned-assigner.js';

const { AssignerProtocol } = kafkajs;

/** Runs the assigner as a group leader would, over topics of the given partition counts. */
async function assign(
  counts: Record<string, number>,
  members: { id: string; topics: string[]; holding?: number[] }[],
): Promise<Record<string, Record<string, number[]>>> {
  const cluster = {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: counts[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
  };
  const assigner = copartitionedAssigner(() => [])({ cluster } as never);
  const result = await assigner.assign({
    members: members.map((m) => ({
      memberId: m.id,
      memberMetadata: AssignerProtocol.MemberMetadata.encode({
        version: 0,
        topics: m.topics,
        userData: Buffer.from(JSON.stringify(m.holding ?? [])),
      }),
    })),
    topics: Object.keys(counts),
  });
  return Object.fromEntries(
    result.map(({ memberId, memberAssignment }) => [
      memberId,
      AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment,
    ]),
  );
}

describe('the co-partitioned assigner', () => {
  it('gives each member whole partition numbers, keeping those it holds', async () => {
    const result = await assign({ orders: 4, replay: 4 }, [
      { id: 'a', topics: ['orders', 'replay'], holding: [2, 3] },
      { id: 'b', topics: ['orders', 'replay'], holding: [0, 1] },
    ]);
    expect(result).toEqual({
      a: { orders: [2, 3], replay: [2, 3] },
      b: { orders: [0, 1], replay: [0, 1] },
    });
  });

  it('while members subscribe differently (nodes of two versions), gives the numbers to those that read every topic', async () => {
    const result = await assign({ orders: 4, customers: 4, replay: 4 }, [
      { id: 'old', topics: ['orders', 'replay'], holding: [0, 1, 2, 3] },
      { id: 'new', topics: ['orders', 'customers', 'replay'] },
    ]);
    expect(result['old']).toEqual({});
    expect(result['new']).toEqual({
      customers: [0, 1, 2, 3],
      orders: [0, 1, 2, 3],
      replay: [0, 1, 2, 3],
    });
  });
});
