import type { DefaultPartitioner } from '../partitioner.js';
import type {
  ProduceRecord,
  RecordMetadata,
  TopicPartitionOffset,
  Transaction,
  TransactionalProducer,
} from '../transport.js';
import type { AppendGate } from './append-gate.js';
import { mergeBatches, placeRecords, type PartitionBatch } from './record-placement.js';
import type { TransactionJournal } from './transaction-journal.js';
import type { TopicRegistry } from './topic-registry.js';

/** A write of a transactional producer that a newer producer with the same transactional id replaced. */
export class ProducerFencedError extends Error {
  constructor(transactionalId: string) {
    super(
      `transactional id "${transactionalId}" was taken over by a newer producer: this one can no longer commit`,
    );
    this.name = 'ProducerFencedError';
  }
}

export interface TransactionCoordinatorParts {
  readonly topics: TopicRegistry;
  readonly partitioner: DefaultPartitioner;
  readonly gate: AppendGate;
  readonly journal: TransactionJournal;
  /** Stores a group's offsets, whoever is a member of it (a transaction's offsets carry no membership). */
  readonly storeOffsets: (group: string, offsets: readonly TopicPartitionOffset[]) => Promise<void>;
}

/**
 * The embedded log's transactions. A transaction keeps its records and offsets in memory until it commits, so
 * nothing of an aborted (or crashed) one ever reaches a partition. Commits run one at a time; each writes its
 * journal (the commit point), appends each partition's records as one write while plain appends wait, then
 * stores the offsets (see `TransactionJournal` for what a crash in between leaves, and how opening finishes
 * it). Records become readable partition by partition as they are appended, a moment apart, as on Kafka where
 * the commit markers follow the commit's answer.
 *
 * A transactional id has an epoch per transport instance: `init` of a newer producer fences the older one.
 * (Only one process writes the log, so every producer of an id is in this instance.) Its offsets are stored
 * without checking the group's membership, as Kafka's transactional offset commits (without KIP-447) do: the
 * fencing is what keeps an old instance of a task from committing.
 */
export class TransactionCoordinator {
  private readonly parts: TransactionCoordinatorParts;
  private readonly epochs = new Map<string, number>();
  /** The commit running, which the next one waits for. */
  private committing: Promise<unknown> = Promise.resolve();
  /** Set when a committed transaction could not be applied: the log must be reopened to complete it. */
  private failure: Error | undefined;

  constructor(parts: TransactionCoordinatorParts) {
    this.parts = parts;
  }

  /** Throws when the log cannot take writes until it is reopened. */
  assertWritable(): void {
    if (this.failure) throw this.failure;
  }

  /** Gives the id a new epoch, fencing older producers; waits out a commit of theirs already under way. */
  async register(transactionalId: string): Promise<number> {
    await this.committing;
    const epoch = (this.epochs.get(transactionalId) ?? 0) + 1;
    this.epochs.set(transactionalId, epoch);
    return epoch;
  }

  assertCurrent(transactionalId: string, epoch: number): void {
    if (this.epochs.get(transactionalId) !== epoch) throw new ProducerFencedError(transactionalId);
  }

  place(records: readonly ProduceRecord[], firstPosition: number): PartitionBatch[] {
    return placeRecords(this.parts.topics, this.parts.partitioner, records, firstPosition);
  }

  commit(
    transactionalId: string,
    epoch: number,
    batches: readonly PartitionBatch[],
    offsets: ReadonlyMap<string, readonly TopicPartitionOffset[]>,
  ): Promise<RecordMetadata[]> {
    const run = this.committing.then(() => this.commitNow(transactionalId, epoch, batches, offsets));
    this.committing = run.catch(() => undefined);
    return run;
  }

  /** Waits for the commit under way, then closes the journal (the transport closes the logs after). */
  async close(): Promise<void> {
    await this.committing;
    await this.parts.journal.close();
  }

  private async commitNow(
    transactionalId: string,
    epoch: number,
    sent: readonly PartitionBatch[],
    offsets: ReadonlyMap<string, readonly TopicPartitionOffset[]>,
  ): Promise<RecordMetadata[]> {
    this.assertWritable();
    this.assertCurrent(transactionalId, epoch);
    const batches = mergeBatches(sent);
    const count = batches.reduce((n, b) => n + b.records.length, 0);
    const result = new Array<RecordMetadata>(count);
    // One record, or one partition and no offsets, is one append: atomic without a journal.
    const journaled = offsets.size > 0 || batches.length > 1;
    await this.parts.gate.exclusive(async () => {
      if (journaled) {
        await this.parts.journal.write({
          partitions: batches.map((b) => ({
            topic: b.topic,
            partition: b.partition,
            base: b.log.endOffset,
            records: b.records,
          })),
          offsets,
        });
      }
      try {
        await Promise.all(
          batches.map(async (batch) => {
            const base = await batch.log.append(batch.records);
            batch.positions.forEach((position, i) => {
              result[position] = { topic: batch.topic, partition: batch.partition, offset: base + i };
            });
          }),
        );
      } catch (error) {
        if (journaled) this.failed(error);
        throw error;
      }
    });
    if (!journaled) return result;
    try {
      for (const [group, list] of offsets) await this.parts.storeOffsets(group, list);
      await this.parts.journal.clear();
    } catch (error) {
      this.failed(error);
      throw error;
    }
    return result;
  }

  private failed(cause: unknown): void {
    this.failure ??= new Error(
      `the embedded log could not apply a committed transaction (${cause instanceof Error ? cause.message : String(cause)}); ` +
        `it takes no more writes until it is opened again (restart the node), which completes the transaction`,
      { cause },
    );
  }
}

/** A transactional producer of the embedded log (see `TransactionCoordinator`). */
export class EmbeddedTransactionalProducer implements TransactionalProducer {
  private readonly id: string;
  private readonly coordinator: TransactionCoordinator;
  private readonly readOnly: boolean;
  private readonly onClose: (producer: EmbeddedTransactionalProducer) => void;
  private epoch: Promise<number> | undefined;
  private closed = false;

  constructor(
    id: string,
    coordinator: TransactionCoordinator,
    readOnly: boolean,
    onClose: (producer: EmbeddedTransactionalProducer) => void,
  ) {
    this.id = id;
    this.coordinator = coordinator;
    this.readOnly = readOnly;
    this.onClose = onClose;
  }

  async init(): Promise<void> {
    await this.registered();
  }

  async begin(): Promise<Transaction> {
    const epoch = await this.registered();
    this.coordinator.assertCurrent(this.id, epoch);
    return new EmbeddedTransaction(this.id, epoch, this.coordinator, () => this.closed);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }

  private registered(): Promise<number> {
    if (this.closed) return Promise.reject(new Error('transactional producer is closed'));
    if (this.readOnly) return Promise.reject(new Error('cannot write: the transport was opened read-only'));
    this.epoch ??= this.coordinator.register(this.id);
    return this.epoch;
  }
}

class EmbeddedTransaction implements Transaction {
  private readonly id: string;
  private readonly epoch: number;
  private readonly coordinator: TransactionCoordinator;
  private readonly producerClosed: () => boolean;
  private readonly batches: PartitionBatch[] = [];
  private readonly offsets = new Map<string, Map<string, TopicPartitionOffset>>();
  private sent = 0;
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';

  constructor(id: string, epoch: number, coordinator: TransactionCoordinator, producerClosed: () => boolean) {
    this.id = id;
    this.epoch = epoch;
    this.coordinator = coordinator;
    this.producerClosed = producerClosed;
  }

  async send(records: readonly ProduceRecord[]): Promise<void> {
    this.assertOpen();
    this.batches.push(...this.coordinator.place(records, this.sent));
    this.sent += records.length;
  }

  async sendOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.assertOpen();
    for (const { topic, partition, offset } of offsets) {
      if (!Number.isSafeInteger(offset) || offset < 0)
        throw new Error(`invalid offset ${offset} for ${topic}/${partition}`);
    }
    let byPartition = this.offsets.get(group);
    if (!byPartition) this.offsets.set(group, (byPartition = new Map()));
    for (const o of offsets) byPartition.set(`${o.topic}\u0000${o.partition}`, o);
  }

  async commit(): Promise<readonly RecordMetadata[]> {
    this.assertOpen();
    this.state = 'committing';
    try {
      const offsets = new Map(
        [...this.offsets].map(([group, byPartition]) => [group, [...byPartition.values()]]),
      );
      const result = await this.coordinator.commit(this.id, this.epoch, this.batches, offsets);
      this.state = 'committed';
      return result;
    } catch (error) {
      this.state = 'aborted';
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'committed' || this.state === 'committing') return;
    this.state = 'aborted';
    this.batches.length = 0;
    this.offsets.clear();
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`the transaction is ${this.state}`);
    if (this.producerClosed()) throw new Error('transactional producer is closed');
    this.coordinator.assertCurrent(this.id, this.epoch);
  }
}
