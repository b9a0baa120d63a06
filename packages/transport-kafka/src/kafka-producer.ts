import type { Producer, ProduceRecord, RecordMetadata } from '@datamesh/core';
import kafkajs, { type Producer as KafkajsProducer, type TopicMessages } from 'kafkajs';
import type { Compression } from './kafka-options.js';
import { Partitioner, toKafkaMessage } from './record-mapping.js';
import type { TopicMetadata } from './topic-metadata.js';

const { CompressionTypes } = kafkajs;

/** A broker refuses a record batch over message.max.bytes (1 MiB by default): requests stay below it. */
const MAX_REQUEST_BYTES = 900 * 1024;

export const COMPRESSION_TYPES: Record<Compression, number> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

export interface BatchingOptions {
  readonly compression: Compression;
  readonly lingerMs: number;
  readonly maxBatchRecords: number;
}

interface PendingSend {
  readonly records: readonly ProduceRecord[];
  readonly resolve: (metadata: RecordMetadata[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes records into topics through sendBatch with assigned partitions and returns each record's offset.
 * Shared by the plain and the transactional producer.
 */
export async function writeRecords(
  send: (batch: {
    topicMessages: TopicMessages[];
  }) => Promise<{ topicName: string; partition: number; baseOffset?: string }[]>,
  records: readonly ProduceRecord[],
  metadata: TopicMetadata,
  partitioner: Partitioner,
): Promise<RecordMetadata[]> {
  const counts = new Map<string, number>();
  for (const topic of new Set(records.map((r) => r.topic)))
    counts.set(topic, await metadata.partitionsOf(topic));
  const assigned = records.map((r) => partitioner.partitionOf(r, counts.get(r.topic)!));
  const out: RecordMetadata[] = [];
  for (const [start, end] of requestRanges(records)) {
    const byTopic = new Map<string, TopicMessages>();
    for (let i = start; i < end; i++) {
      const record = records[i]!;
      let group = byTopic.get(record.topic);
      if (!group) byTopic.set(record.topic, (group = { topic: record.topic, messages: [] }));
      group.messages.push(toKafkaMessage(record, assigned[i]!));
    }
    const results = await send({ topicMessages: [...byTopic.values()] });
    const next = new Map<string, number>();
    for (const r of results) next.set(`${r.topicName}\u0000${r.partition}`, Number(r.baseOffset ?? -1));
    for (let i = start; i < end; i++) {
      const topic = records[i]!.topic;
      const partition = assigned[i]!;
      const key = `${topic}\u0000${partition}`;
      const offset = next.get(key) ?? -1;
      next.set(key, offset + 1);
      out.push({ topic, partition, offset });
    }
  }
  return out;
}

/** Splits records into consecutive ranges whose payload stays under one request's size. */
function requestRanges(records: readonly ProduceRecord[]): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let bytes = 0;
  records.forEach((r, i) => {
    let size = 70 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    for (const [k, v] of Object.entries(r.headers ?? {})) size += k.length + v.length + 8;
    if (i > start && bytes + size > MAX_REQUEST_BYTES) {
      ranges.push([start, i]);
      start = i;
      bytes = 0;
    }
    bytes += size;
  });
  if (start < records.length) ranges.push([start, records.length]);
  return ranges;
}

/**
 * An idempotent producer (acks from all in-sync replicas, so an acknowledged record survives the loss of a
 * broker). kafkajs sends one request per call, so concurrent sends are queued and written together by
 * one request: with one request in flight at a time per producer — which keeps the idempotent
 * producer's sequence numbers in order — that is what batches them.
 */
export class KafkaProducer implements Producer {
  private readonly create: () => KafkajsProducer;
  private producer: KafkajsProducer;
  private readonly metadata: TopicMetadata;
  private readonly options: BatchingOptions;
  private readonly partitioner = new Partitioner();
  private readonly queue: PendingSend[] = [];
  private connecting: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  private closed = false;
  private readonly onClose: () => void;

  constructor(
    create: () => KafkajsProducer,
    metadata: TopicMetadata,
    options: BatchingOptions,
    onClose: () => void,
  ) {
    this.create = create;
    this.producer = create();
    this.metadata = metadata;
    this.options = options;
    this.onClose = onClose;
  }

  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    if (this.closed) return Promise.reject(new Error('producer is closed'));
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.scheduleDrain();
    });
  }

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // A send queued after the loop's last look at the queue, but before this ran, still needs a drain.
      if (this.queue.length > 0) this.scheduleDrain();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.draining;
    if (this.connecting) await this.producer.disconnect();
    this.onClose();
  }

  private async drain(): Promise<void> {
    if (this.options.lingerMs > 0) await new Promise((r) => setTimeout(r, this.options.lingerMs));
    while (this.queue.length > 0) {
      const group = this.takeGroup();
      try {
        await this.connect();
        const metadata = await writeRecords(
          (batch) =>
            this.producer.sendBatch({
              ...batch,
              acks: -1,
              compression: COMPRESSION_TYPES[this.options.compression],
            }),
          group.flatMap((p) => p.records),
          this.metadata,
          this.partitioner,
        );
        let at = 0;
        for (const pending of group) {
          pending.resolve(metadata.slice(at, at + pending.records.length));
          at += pending.records.length;
        }
      } catch (error) {
        // After a failed request kafkajs rolls the idempotent sequence numbers back even if the broker
        // appended the batch, so the next send with this producer id could be taken for a duplicate and
        // dropped, or refused as out of order. Sends queued behind fail too (their order after the failed
        // ones cannot be kept), and a new producer, with a new id, takes the next ones.
        const failed = [...group, ...this.queue.splice(0)];
        for (const pending of failed) pending.reject(error);
        await this.replaceProducer();
      }
    }
  }

  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    const wasConnected = this.connecting !== undefined;
    this.producer = this.create();
    this.connecting = undefined;
    if (wasConnected) await old.disconnect().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  /** Whole sends from the head of the queue, up to maxBatchRecords (a larger single send goes alone). */
  private takeGroup(): PendingSend[] {
    const group: PendingSend[] = [this.queue.shift()!];
    let count = group[0]!.records.length;
    while (this.queue.length > 0 && count + this.queue[0]!.records.length <= this.options.maxBatchRecords) {
      const next = this.queue.shift()!;
      count += next.records.length;
      group.push(next);
    }
    return group;
  }
}
