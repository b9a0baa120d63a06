import kafkajs, { type PartitionAssigner } from 'kafkajs';

const { AssignerProtocol } = kafkajs;

const HOLDING = Buffer.from([1]);
const STANDING_BY = Buffer.from([0]);

/**
 * A kafkajs partition assigner for exclusive groups (`ConsumerOptions.exclusive`): every partition of the
 * group's topics goes to one member, the one that says (in its join metadata) it holds them already, else the
 * first by member id. The other members get an empty assignment and stand by until the next rebalance.
 *
 * kafkajs ships a round-robin assigner only; Kafka's own clients have nothing like this either (static
 * membership keeps a member's partitions across restarts, but still splits them), so it is written here.
 */
export function exclusiveAssigner(holding: () => boolean): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'DatameshExclusive',
    version: 0,
    async assign({ members, topics }) {
      const ids = members.map((m) => m.memberId).sort();
      const holder =
        members
          .filter((m) => AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData?.[0] === 1)
          .map((m) => m.memberId)
          .sort()[0] ?? ids[0];
      const everything: Record<string, number[]> = {};
      for (const topic of topics) {
        everything[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
      }
      return ids.map((memberId) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: memberId === holder ? everything : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: 'DatameshExclusive',
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 0,
          topics,
          userData: holding() ? HOLDING : STANDING_BY,
        }),
      };
    },
  });
}
