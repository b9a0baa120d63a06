import type {
  ProduceRecord,
  RecordMetadata,
  TopicPartitionOffset,
  Transaction,
  TransactionalProducer,
} from '@datamesh/core';
import type { Producer as KafkajsProducer, Transaction as KafkajsTransaction } from 'kafkajs';
import { COMPRESSION_TYPES, writeRecords } from './kafka-producer.js';
import type { Compression } from './kafka-options.js';
import { Partitioner } from './record-mapping.js';
import type { TopicMetadata } from './topic-metadata.js';

/**
 * Kafka transactions under one transactional id. Connecting registers the id with the transaction
 * coordinator, which fences an older producer with the same id and aborts what it left open.
 */
export class KafkaTransactionalProducer implements TransactionalProducer {
  private readonly producer: KafkajsProducer;
  private readonly metadata: TopicMetadata;
  private readonly compression: Compression;
  private readonly partitioner = new Partitioner();
  private readonly onClose: () => void;
  private connecting: Promise<void> | undefined;
  private closed = false;

  constructor(
    producer: KafkajsProducer,
    metadata: TopicMetadata,
    compression: Compression,
    onClose: () => void,
  ) {
    this.producer = producer;
    this.metadata = metadata;
    this.compression = compression;
    this.onClose = onClose;
  }

  async init(): Promise<void> {
    if (this.closed) throw new Error('transactional producer is closed');
    this.connecting ??= (async () => {
      await this.producer.connect();
      // kafkajs registers the transactional id (InitProducerId) when its first transaction begins, not on
      // connect: begin and end an empty one, which fences older producers and settles what they left open.
      const empty = await this.producer.transaction();
      await empty.abort();
    })().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    await this.connecting;
  }

  async begin(): Promise<Transaction> {
    await this.init();
    return new KafkaTransaction(
      await this.producer.transaction(),
      this.metadata,
      this.partitioner,
      this.compression,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.connecting) await this.producer.disconnect();
    this.onClose();
  }
}

class KafkaTransaction implements Transaction {
  private readonly tx: KafkajsTransaction;
  private readonly metadata: TopicMetadata;
  private readonly partitioner: Partitioner;
  private readonly compression: Compression;
  /** Where the records sent so far landed: Kafka writes them at once, readers see them after the commit. */
  private readonly written: RecordMetadata[] = [];

  constructor(
    tx: KafkajsTransaction,
    metadata: TopicMetadata,
    partitioner: Partitioner,
    compression: Compression,
  ) {
    this.tx = tx;
    this.metadata = metadata;
    this.partitioner = partitioner;
    this.compression = compression;
  }

  async send(records: readonly ProduceRecord[]): Promise<void> {
    if (records.length === 0) return;
    const written = await writeRecords(
      (batch) => this.tx.sendBatch({ ...batch, acks: -1, compression: COMPRESSION_TYPES[this.compression] }),
      records,
      this.metadata,
      this.partitioner,
    );
    // Not push(...): a send can hold more records than a call can take arguments.
    for (const metadata of written) this.written.push(metadata);
  }

  async sendOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const topics = new Map<string, { partition: number; offset: string }[]>();
    for (const o of offsets) {
      const partitions = topics.get(o.topic) ?? [];
      partitions.push({ partition: o.partition, offset: String(o.offset) });
      topics.set(o.topic, partitions);
    }
    await whileConcurrent(() =>
      this.tx.sendOffsets({
        consumerGroupId: group,
        topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
      }),
    );
  }

  async commit(): Promise<readonly RecordMetadata[]> {
    await this.tx.commit();
    return this.written;
  }

  async abort(): Promise<void> {
    await this.tx.abort();
  }
}

/**
 * Retries a step the transaction coordinator answers with CONCURRENT_TRANSACTIONS: right after a commit it
 * does so until the commit markers are written (a few ms). kafkajs retries that when it adds partitions to a
 * transaction, not when it adds a group's offsets — the first step of a transaction that carries only
 * offsets. From 10 ms, doubling, up to about 10 s in all, as Java's client would.
 */
async function whileConcurrent(step: () => Promise<void>): Promise<void> {
  let wait = 10;
  for (let waited = 0; ; waited += wait, wait = Math.min(wait * 2, 1000)) {
    try {
      return await step();
    } catch (error) {
      if (waited > 10_000 || !isConcurrentTransactions(error)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

function isConcurrentTransactions(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const e = error as { type?: unknown; originalError?: unknown; cause?: unknown };
  return (
    e.type === 'CONCURRENT_TRANSACTIONS' ||
    isConcurrentTransactions(e.originalError, depth + 1) ||
    isConcurrentTransactions(e.cause, depth + 1)
  );
}
