import { copartitionedAssignment } from '@datamesh/core';
import kafkajs, { type PartitionAssigner } from 'kafkajs';

const { AssignerProtocol } = kafkajs;

/**
 * A kafkajs partition assigner for co-partitioned groups (`ConsumerOptions.copartitioned`): partition p of
 * every subscribed topic goes to one member, the partition numbers split in ranges over the members by id.
 *
 * kafkajs ships a round-robin assigner only, which splits each topic-partition on its own; Kafka's range
 * assignor co-partitions only topics of equal partition counts. A task run once per partition number needs
 * the numbers kept together whatever the counts, so the split is core's, shared with the embedded transport.
 */
export function copartitionedAssigner(): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'DatameshCopartitioned',
    version: 0,
    async assign({ members, topics }) {
      const ids = members.map((m) => m.memberId).sort();
      const counts = new Map(
        topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).length] as const),
      );
      const split = copartitionedAssignment(ids, counts);
      return ids.map((memberId) => {
        const assignment: Record<string, number[]> = {};
        for (const { topic, partition } of split.get(memberId) ?? []) {
          (assignment[topic] ??= []).push(partition);
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
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}
