import type { Admin } from 'kafkajs';

/**
 * kafkajs's `fetchTopicOffsets`, retried when it fails with a TypeError: it destructures the offsets of the
 * partitions its metadata holds, and throws one when that metadata does not hold the topic yet (seen right
 * after another client created it). Unknown topics and Kafka errors are not retried here.
 */
export async function fetchTopicOffsets(admin: Admin, topic: string, attempts = 5) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
