import type { Admin } from 'kafkajs';

/**
 * kafkajs's `fetchTopicOffsets`, retried where kafkajs gives up on a topic that was just created:
 * - a TypeError: it destructures the offsets of the partitions its metadata holds, and throws one when that
 *   metadata does not hold the topic yet;
 * - NOT_LEADER_FOR_PARTITION / LEADER_NOT_AVAILABLE: its metadata predates the leader election, and it refreshes
 *   metadata only every `metadataMaxAge` (5 minutes), so the retry asks through a new admin client.
 * Unknown topics and other errors are not retried here.
 */
export async function fetchTopicOffsets(admin: Admin, topic: string, freshAdmin: () => Admin, attempts = 5) {
  let current = admin;
  let own: Admin | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await current.fetchTopicOffsets(topic);
      } catch (error) {
        const staleLeader = isStaleLeader(error);
        if (!(error instanceof TypeError || staleLeader) || attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
        if (staleLeader) {
          await own?.disconnect().catch(() => undefined);
          own = freshAdmin();
          await own.connect();
          current = own;
        }
      }
    }
  } finally {
    await own?.disconnect().catch(() => undefined);
  }
}

function isStaleLeader(error: unknown): boolean {
  for (
    let e = error as { type?: string; cause?: unknown; originalError?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = (e.cause ?? e.originalError) as typeof e, depth++
  ) {
    if (e.type === 'NOT_LEADER_FOR_PARTITION' || e.type === 'LEADER_NOT_AVAILABLE') return true;
  }
  return false;
}
