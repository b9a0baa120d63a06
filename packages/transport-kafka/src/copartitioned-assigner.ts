import { copartitionedAssignment } from '@datamesh/core';
import kafkajs, { type PartitionAssigner } from 'kafkajs';

const { AssignerProtocol } = kafkajs;

/**
 * A kafkajs partition assigner for co-partitioned groups (`ConsumerOptions.copartitioned`): partition p of
 * every subscribed topic goes to one member, the partition numbers shared out evenly over the members by id.
 * Each member says in its join metadata which numbers it holds, and keeps them as far as an even share allows.
 *
 * kafkajs ships a round-robin assigner only, which splits each topic-partition on its own; Kafka's range
 * assignor co-partitions only topics of equal partition counts. A task run once per partition number needs
 * the numbers kept together whatever the counts, so the split is core's, shared with the embedded transport.
 */
export function copartitionedAssigner(holding: () => readonly number[]): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'DatameshCopartitioned',
    version: 0,
    async assign({ members, topics }) {
      const ids = members.map((m) => m.memberId).sort();
      const counts = new Map(
        topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).length] as const),
      );
      const metadata = new Map(
        members.map((m) => [m.memberId, AssignerProtocol.MemberMetadata.decode(m.memberMetadata)]),
      );
      const held = new Map(ids.map((id) => [id, heldNumbers(metadata.get(id)?.userData)]));
      const subscribed = new Map(ids.map((id) => [id, new Set(metadata.get(id)?.topics ?? topics)]));
      // Members of one task subscribe alike, except while nodes of two versions run (an input added or
      // removed). Then only those subscribed to every topic of the group share the numbers, the others get none:
      // a number split between two members would give both an instance of it, fencing each other in turn.
      const complete = ids.filter((id) => topics.every((t) => subscribed.get(id)!.has(t)));
      const sharing = complete.length > 0 ? complete : ids;
      const split = copartitionedAssignment(sharing, counts, (id) => held.get(id) ?? []);
      return ids.map((memberId) => {
        const assignment: Record<string, number[]> = {};
        for (const { topic, partition } of split.get(memberId) ?? []) {
          if (subscribed.get(memberId)!.has(topic)) (assignment[topic] ??= []).push(partition);
        }
        return {
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 0,
            assignment,
            userData: Buffer.alloc(0),
          }),
        };
      });
    },
    protocol({ topics }) {
      return {
        name: 'DatameshCopartitioned',
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 0,
          topics,
          userData: Buffer.from(JSON.stringify([...new Set(holding())])),
        }),
      };
    },
  });
}

/** The partition numbers a member said it holds; nothing for metadata it did not write (another version). */
function heldNumbers(userData: Buffer | undefined): number[] {
  try {
    const parsed: unknown = JSON.parse(userData?.toString() ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((n): n is number => Number.isInteger(n)) : [];
  } catch {
    return [];
  }
}
