import type { ConsumedRecord, Consumer, ConsumerOptions, TopicPartitionOffset } from '../transport.js';
import type { AppendNotifier } from './append-notifier.js';
import type { ConsumerGroups, GroupMember, TopicPartition } from './consumer-group.js';
import { toOffsetList } from './group-offsets.js';
import { newCursor, type PartitionLog, type ReadCursor } from './partition-log.js';
import type { TopicRegistry } from './topic-registry.js';

export interface ConsumerContext {
  readonly topics: TopicRegistry;
  readonly groups: ConsumerGroups;
  readonly notifier: AppendNotifier;
  readonly readOnly: boolean;
  /** How often a read-only opener looks for the writer's appends while `poll()` waits. */
  readonly tailIntervalMs: number;
  readonly onClose: (consumer: EmbeddedConsumer) => void;
}

interface Assigned {
  readonly topic: string;
  readonly partition: number;
  /** Undefined until the first read, which starts at the committed offset (or the reset point). */
  cursor: ReadCursor | undefined;
}

let nextMemberId = 1;

/**
 * A member of a consumer group of this transport instance. It joins when created and leaves when closed;
 * each join or leave re-splits the partitions among the members. A partition taken over from another member
 * starts at the group's committed offset, so records that member had not committed are delivered again.
 */
export class EmbeddedConsumer implements Consumer, GroupMember {
  readonly memberId = nextMemberId++;
  readonly topics: readonly string[];
  readonly exclusive: boolean;
  readonly copartitioned: boolean;
  private readonly group: string;
  private readonly fromBeginning: boolean;
  private readonly channels: string[];
  private assigned: Assigned[] = [];
  private nextStart = 0;
  private closed = false;

  private readonly context: ConsumerContext;

  constructor(options: ConsumerOptions, context: ConsumerContext) {
    this.context = context;
    if (options.group.length === 0) throw new Error('a consumer group name must not be empty');
    if (options.topics.length === 0) throw new Error('a consumer needs at least one topic');
    this.group = options.group;
    this.topics = [...new Set(options.topics)];
    this.fromBeginning = options.fromBeginning ?? true;
    this.exclusive = options.exclusive ?? false;
    this.copartitioned = options.copartitioned ?? false;
    this.channels = [...this.topics, memberChannel(this.memberId)];
    context.groups.join(this.group, this);
  }

  /** The partitions this member owns now. */
  assignment(): TopicPartition[] {
    return this.assigned.map(({ topic, partition }) => ({ topic, partition }));
  }

  assign(partitions: readonly TopicPartition[]): void {
    const previous = new Map(this.assigned.map((a) => [`${a.topic}/${a.partition}`, a]));
    this.assigned = partitions.map(
      (tp) =>
        previous.get(`${tp.topic}/${tp.partition}`) ?? {
          topic: tp.topic,
          partition: tp.partition,
          cursor: undefined,
        },
    );
    this.context.notifier.notify(memberChannel(this.memberId));
  }

  /**
   * Waits without spinning: woken by the writer's appends in this process, or (read-only openers) looking at
   * the files every `tailIntervalMs`. An abort of `signal` ends the wait: poll then resolves with what it has,
   * usually nothing, so a loop `while (!signal.aborted) poll(...)` stops cleanly and can still commit.
   */
  async poll(options: {
    maxRecords: number;
    maxWaitMs: number;
    signal?: AbortSignal;
  }): Promise<ConsumedRecord[]> {
    this.assertOpen();
    const { maxRecords, maxWaitMs, signal } = options;
    if (!(maxRecords >= 1)) throw new Error(`maxRecords must be >= 1, got ${maxRecords}`);
    if (signal?.aborted) return [];
    const deadline = Date.now() + Math.max(0, maxWaitMs);
    for (;;) {
      const since = this.context.notifier.snapshot(this.channels);
      if (this.context.readOnly) await this.context.topics.refresh(this.context.tailIntervalMs);
      const records = await this.fetch(maxRecords);
      const remaining = deadline - Date.now();
      if (records.length > 0 || remaining <= 0 || this.closed || signal?.aborted) return records;
      // Another process appends for read-only openers, so nothing here is notified: look again shortly.
      const wait = this.context.readOnly ? Math.min(remaining, this.context.tailIntervalMs) : remaining;
      await this.context.notifier.wait(this.channels, since, wait, signal);
      if (signal?.aborted) return [];
    }
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.assertOpen();
    await this.context.groups.commit(this.group, this, offsets);
  }

  async committed(): Promise<TopicPartitionOffset[]> {
    return toOffsetList(await this.context.groups.committed(this.group), this.topics);
  }

  /**
   * Records after the group's committed offsets, summed over every partition of the subscribed topics (not
   * only this member's). A partition without a commit counts from where the group would start reading it.
   * Records removed by retention do not count.
   */
  async lag(): Promise<number> {
    const committed = await this.context.groups.committed(this.group);
    let lag = 0;
    for (const name of this.topics) {
      const topic = this.context.topics.get(name);
      if (topic === undefined) continue;
      topic.logs.forEach((log, partition) => {
        const from =
          committed.get(name)?.get(partition) ?? (this.fromBeginning ? log.startOffset : log.endOffset);
        lag += Math.max(0, log.endOffset - Math.max(from, log.startOffset));
      });
    }
    return lag;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.context.groups.leave(this.group, this);
    this.assigned = [];
    this.context.notifier.notify(memberChannel(this.memberId));
    this.context.onClose(this);
  }

  private async fetch(maxRecords: number): Promise<ConsumedRecord[]> {
    const out: ConsumedRecord[] = [];
    const assigned = this.assigned;
    if (assigned.length === 0) return out;
    // Start at a different partition each time so one busy partition cannot starve the others.
    const start = this.nextStart++ % assigned.length;
    for (let i = 0; i < assigned.length && out.length < maxRecords; i++) {
      const part = assigned[(start + i) % assigned.length]!;
      const log = this.context.topics.get(part.topic)?.logs[part.partition];
      if (log === undefined) continue;
      part.cursor ??= newCursor(await this.startOffset(part, log));
      const records = await log.read(part.cursor, maxRecords - out.length);
      // A rebalance while reading took the partition away: its records belong to the new owner now.
      if (this.closed || !this.assigned.includes(part)) continue;
      for (const r of records) {
        out.push({
          topic: part.topic,
          partition: part.partition,
          offset: r.offset,
          timestamp: r.timestamp,
          key: r.key,
          value: r.value,
          headers: r.headers,
        });
      }
    }
    return out;
  }

  private async startOffset(part: Assigned, log: PartitionLog): Promise<number> {
    const committed = (await this.context.groups.committed(this.group)).get(part.topic)?.get(part.partition);
    if (committed === undefined) return this.fromBeginning ? log.startOffset : log.endOffset;
    // Out of range (records removed by retention, or a machine crash lost the tail): the nearest valid offset.
    if (committed < log.startOffset) return log.startOffset;
    if (!this.context.readOnly && committed > log.endOffset) return log.endOffset;
    return committed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the consumer is closed');
  }
}

function memberChannel(memberId: number): string {
  // A NUL byte cannot appear in a topic name, so this never collides with one.
  return `\u0000member:${memberId}`;
}
