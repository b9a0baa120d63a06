import type { ConsumedRecord, Consumer, TopicPartition, TopicPartitionOffset } from '@datamesh/core';
import type { Admin, Consumer as KafkajsConsumer, EachBatchPayload } from 'kafkajs';
import { fromKafkaMessage } from './record-mapping.js';
import { RecordBuffer } from './record-buffer.js';
import { fetchTopicOffsets } from './topic-offsets.js';

/** Fetched records held for poll() at most; beyond this the fetch loop waits (backpressure). */
const BUFFER_HIGH_WATER = 10_000;
/** How long the first poll waits for the group to assign partitions before counting its own maxWaitMs. */
const FIRST_JOIN_TIMEOUT_MS = 60_000;

export interface KafkaConsumerParts {
  readonly consumer: KafkajsConsumer;
  readonly admin: () => Promise<Admin>;
  /** A new, unconnected admin client: for a retry that must not use the shared one's stale metadata. */
  readonly freshAdmin: () => Admin;
  readonly group: string;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  readonly onClose: () => void;
}

/**
 * Our pull-based consumer over kafkajs's push-based one: its fetch loop fills a bounded buffer that poll()
 * drains, and blocks (heartbeating) while the buffer is full. Offsets are committed only by commit(), after
 * the caller's sink flushed. A rebalance drops what was buffered: kafkajs resumes every assigned partition
 * from the committed offsets, so uncommitted records are delivered again (at least once).
 */
export class KafkaConsumer implements Consumer {
  private readonly parts: KafkaConsumerParts;
  private readonly buffer = new RecordBuffer();
  private readonly started: Promise<void>;
  private assigned = new Map<string, Set<number>>();
  /** Per `topic/partition`, the offset after the last batch kafkajs finished, control records included. */
  private fetched = new Map<string, number>();
  private joined = false;
  private failure: unknown;
  private closed = false;

  constructor(parts: KafkaConsumerParts) {
    this.parts = parts;
    const { consumer } = parts;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.assigned = new Map(
        Object.entries(payload.memberAssignment).map(([topic, partitions]) => [topic, new Set(partitions)]),
      );
      this.buffer.clear();
      this.fetched.clear();
      this.joined = true;
    });
    // Emitted after each batch went through onBatch, also for batches of only transaction markers or
    // aborted records (which onBatch never sees): how far this member has really read.
    // (Batches with records are counted in onBatch, once they are buffered.)
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize === 0)
        this.reached(payload.topic, payload.partition, Number(payload.lastOffset) + 1);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) {
        this.failure = explained(payload.error, parts.group);
        this.buffer.clear();
      }
    });
    this.started = this.start();
    // A failed start is reported by the next poll; this only keeps it from being an unhandled rejection.
    this.started.catch(() => undefined);
  }

  async poll(options: {
    maxRecords: number;
    maxWaitMs: number;
    signal?: AbortSignal;
  }): Promise<ConsumedRecord[]> {
    const { signal } = options;
    if (this.closed) throw new Error('consumer is closed');
    await this.started;
    if (!this.joined) await this.waitForJoin(signal);
    const deadline = Date.now() + options.maxWaitMs;
    while (this.buffer.size === 0 && !signal?.aborted && Date.now() < deadline && !this.closed) {
      this.throwIfFailed();
      await this.buffer.changed(deadline - Date.now(), signal);
    }
    this.throwIfFailed();
    return this.buffer.take(options.maxRecords);
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.closed) throw new Error('consumer is closed');
    this.throwIfFailed();
    // A partition handed to another member meanwhile is its business now: committing it from here could
    // move its position under it. Its records will be delivered again there.
    const owned = offsets.filter((o) => this.assigned.get(o.topic)?.has(o.partition));
    if (owned.length === 0) return;
    try {
      await this.parts.consumer.commitOffsets(
        owned.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) })),
      );
    } catch (error) {
      // During a rebalance the group refuses commits; the records are delivered again after it.
      if (isRebalancing(error)) return;
      throw error;
    }
    // kafkajs answers a commit on a consumer that just crashed without sending it.
    this.throwIfFailed();
  }

  assignment(): TopicPartition[] {
    this.throwIfFailed();
    return [...this.assigned].flatMap(([topic, partitions]) =>
      [...partitions].sort((a, b) => a - b).map((partition) => ({ topic, partition })),
    );
  }

  readUpTo(topic: string, ends: readonly number[]): boolean {
    if (this.buffer.size > 0) return false;
    return ends.every(
      (end, partition) => end === 0 || (this.fetched.get(`${topic}/${partition}`) ?? 0) >= end,
    );
  }

  async committed(): Promise<TopicPartitionOffset[]> {
    const admin = await this.parts.admin();
    const result = await admin.fetchOffsets({ groupId: this.parts.group, topics: [...this.parts.topics] });
    return result.flatMap(({ topic, partitions }) =>
      partitions
        .filter((p) => Number(p.offset) >= 0)
        .map((p) => ({ topic, partition: p.partition, offset: Number(p.offset) })),
    );
  }

  async lag(): Promise<number> {
    const admin = await this.parts.admin();
    const committed = new Map((await this.committed()).map((o) => [`${o.topic}/${o.partition}`, o.offset]));
    let lag = 0;
    for (const topic of this.parts.topics) {
      for (const p of await fetchTopicOffsets(admin, topic, this.parts.freshAdmin)) {
        const from = committed.get(`${topic}/${p.partition}`) ?? Number(p.low);
        lag += Math.max(0, Number(p.high) - from);
      }
    }
    return lag;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    try {
      await this.started;
    } catch {
      // never started: nothing to leave
    }
    await this.parts.consumer.disconnect();
    this.parts.onClose();
  }

  private async start(): Promise<void> {
    const { consumer, topics, fromBeginning } = this.parts;
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) {
    while (this.buffer.size >= BUFFER_HIGH_WATER && isRunning() && !isStale() && !this.closed) {
      await this.buffer.changed(1000);
      await heartbeat();
    }
    if (!isRunning() || isStale() || this.closed || batch.messages.length === 0) return;
    this.buffer.push(batch.messages.map((m) => fromKafkaMessage(batch.topic, batch.partition, m)));
    this.reached(batch.topic, batch.partition, Number(batch.lastOffset()) + 1);
    resolveOffset(batch.lastOffset());
    await heartbeat();
  }

  private async waitForJoin(signal: AbortSignal | undefined): Promise<void> {
    const deadline = Date.now() + FIRST_JOIN_TIMEOUT_MS;
    while (!this.joined && !signal?.aborted && !this.closed) {
      this.throwIfFailed();
      if (Date.now() > deadline) {
        throw new Error(
          `consumer group "${this.parts.group}" got no partitions within ${FIRST_JOIN_TIMEOUT_MS / 1000} s; is the Kafka cluster healthy?`,
        );
      }
      await this.buffer.changed(100, signal);
    }
  }

  private reached(topic: string, partition: number, next: number): void {
    const key = `${topic}/${partition}`;
    if (next > (this.fetched.get(key) ?? 0)) this.fetched.set(key, next);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** The broker error type of an error or of one of its causes (kafkajs wraps them), if any. */
function brokerErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  for (let e = error as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.type === 'string') types.push(e.type);
  }
  return types;
}

/**
 * A consumer failure in words an operator can act on where kafkajs's are cryptic: a group whose members use
 * different assignors is, for us, a task that two nodes run different ways.
 */
function explained(error: Error, group: string): Error {
  if (!brokerErrorTypes(error).includes('INCONSISTENT_GROUP_PROTOCOL')) return error;
  return new Error(
    `consumer group "${group}" has a member that splits its partitions another way: another node runs this task ` +
      `differently (on one node at a time, or once per input partition). That follows from the task's processors ` +
      `(their plugin versions) and its topics' partition counts: run every node with the same plugins, and let ` +
      `this node retry once the others match`,
    { cause: error },
  );
}

/** kafkajs wraps non-retriable broker errors (these are) in KafkaJSNonRetriableError: look down the causes. */
function isRebalancing(error: unknown): boolean {
  for (let e = error as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (
      e.type === 'REBALANCE_IN_PROGRESS' ||
      e.type === 'ILLEGAL_GENERATION' ||
      e.type === 'UNKNOWN_MEMBER_ID'
    )
      return true;
  }
  return false;
}
