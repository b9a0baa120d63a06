import type { Admin } from 'kafkajs';

/** Partition counts of topics, asked of the cluster once and refreshed when a topic is unknown or grows. */
export class TopicMetadata {
  private readonly partitions = new Map<string, number>();
  private readonly admin: () => Promise<Admin>;

  constructor(admin: () => Promise<Admin>) {
    this.admin = admin;
  }

  async partitionsOf(topic: string): Promise<number> {
    const known = this.partitions.get(topic);
    if (known !== undefined) return known;
    const count = await this.fetch(topic);
    if (count === undefined) {
      throw new Error(`topic "${topic}" does not exist on the Kafka cluster; create it first (ensureTopic)`);
    }
    return count;
  }

  /** The cluster's current partition count of `topic`, or undefined when it does not exist. */
  async fetch(topic: string): Promise<number | undefined> {
    const admin = await this.admin();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const count = topics[0]?.partitions.length;
      if (count === undefined || count === 0) return undefined;
      this.partitions.set(topic, count);
      return count;
    } catch (error) {
      if (isUnknownTopic(error)) {
        this.partitions.delete(topic);
        return undefined;
      }
      throw error;
    }
  }

  forget(topic: string): void {
    this.partitions.delete(topic);
  }
}

export function isUnknownTopic(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION'
  );
}
