import type {
  InputOffsets,
  Logger,
  PluginMetrics,
  ProduceRecord,
  Producer,
  Transaction,
  TransactionalProducer,
} from '@datamesh/core';
import { kafkaErrorType, type SinkAction } from './kafka-permissions.js';

export interface WriterMetrics {
  readonly written: ReturnType<PluginMetrics['counter']>;
  readonly transactions: ReturnType<PluginMetrics['counter']>;
  readonly buffered: ReturnType<PluginMetrics['gauge']>;
}

export interface WriterOptions {
  readonly maxBufferedBytes: number;
  readonly metrics: WriterMetrics;
  readonly logger: Logger;
  /** Turns a failure into the error the task ends with (authorization refusals halt it). */
  readonly explain: (error: unknown, action: SinkAction) => unknown;
}

/** How encoded records reach the output topic. */
export interface OutputWriter {
  readonly guarantee: 'exactly-once' | 'at-least-once';
  /** Takes a batch of encoded records; may send them ahead of the flush. */
  add(records: readonly ProduceRecord[], bytes: number): Promise<void>;
  /** Makes everything added durable, together with `offsets` when given (transactions only). */
  flush(offsets?: InputOffsets): Promise<void>;
  /** Drops what was not flushed (an open transaction is aborted) and releases the producer. */
  close(): Promise<void>;
}

/**
 * Exactly once on the node's own cluster: the records added since the last flush and the input offsets are
 * committed in one Kafka transaction. The transaction begins lazily: when the buffer passes maxBufferedBytes
 * (records are then sent into it, still invisible to read_committed consumers) or at the flush. Any failure
 * aborts it; a crash leaves it to be aborted by the next producer with the same transactional id (or the
 * broker's transaction timeout), so the records and the offsets advance together or not at all.
 */
export class TransactionalWriter implements OutputWriter {
  readonly guarantee = 'exactly-once';
  private readonly producer: TransactionalProducer;
  private readonly transactionalId: string;
  private readonly options: WriterOptions;
  private tx: Transaction | undefined;
  /** A failure the producer cannot recover from (fenced, or an abort that failed): the task must restart. */
  private broken: { readonly error: unknown } | undefined;
  private buffered: ProduceRecord[] = [];
  private bufferedBytes = 0;
  /** Records of the open transaction (sent into it or buffered). */
  private pending = 0;

  constructor(producer: TransactionalProducer, transactionalId: string, options: WriterOptions) {
    this.producer = producer;
    this.transactionalId = transactionalId;
    this.options = options;
  }

  async add(records: readonly ProduceRecord[], bytes: number): Promise<void> {
    if (this.broken) throw this.broken.error;
    if (records.length === 0) return;
    this.buffered.push(...records);
    this.bufferedBytes += bytes;
    this.pending += records.length;
    this.options.metrics.buffered.set(this.bufferedBytes);
    if (this.bufferedBytes > this.options.maxBufferedBytes) {
      await this.guarded('write', () => this.sendBuffered());
    }
  }

  async flush(offsets?: InputOffsets): Promise<void> {
    if (this.broken) throw this.broken.error;
    const withOffsets = offsets !== undefined && offsets.offsets.length > 0;
    if (!this.tx && this.buffered.length === 0 && !withOffsets) return;
    await this.guarded('write', () => this.sendBuffered());
    if (withOffsets) {
      await this.guarded('commit offsets', () => this.tx!.sendOffsets(offsets.group, offsets.offsets));
    }
    await this.guarded('transaction', () => this.tx!.commit());
    this.tx = undefined;
    this.options.metrics.transactions.inc({ result: 'committed' });
    this.options.metrics.written.inc(this.pending);
    this.pending = 0;
  }

  async close(): Promise<void> {
    await this.abort();
    await this.producer.close();
  }

  private async sendBuffered(): Promise<void> {
    this.tx ??= await this.producer.begin();
    const records = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.options.metrics.buffered.set(0);
    await this.tx.send(records);
  }

  /** Runs a step of the transaction; on failure aborts it (best effort) and throws the explained error. */
  private async guarded(action: SinkAction, step: () => Promise<unknown>): Promise<void> {
    try {
      await step();
    } catch (error) {
      const explained = kafkaErrorType(error, (type) => FENCED.has(type))
        ? new Error(
            `the transaction on transactional id "${this.transactionalId}" was fenced: a newer producer took the id over (this stage's task restarted, or a second node runs it), or the transaction outlived the transaction timeout. Its records and offsets are discarded`,
            { cause: error },
          )
        : this.options.explain(error, action);
      if (!(await this.abort())) this.broken = { error: explained };
      throw explained;
    }
  }

  /** Aborts the open transaction, if any; false when that failed (the producer is then unusable). */
  private async abort(): Promise<boolean> {
    const tx = this.tx;
    this.tx = undefined;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.pending = 0;
    this.options.metrics.buffered.set(0);
    if (!tx) return true;
    try {
      await tx.abort();
      this.options.metrics.transactions.inc({ result: 'aborted' });
      return true;
    } catch (error) {
      // A fenced or failed producer cannot abort; its transaction is aborted by the next producer with the
      // same transactional id, or by the broker once it times out.
      this.options.logger.debug({ err: error }, 'aborting the transaction failed');
      return false;
    }
  }
}

/**
 * At least once: records are sent through an idempotent producer as they arrive (no duplicates from the
 * producer's own retries), a flush waits for every send, and a failure fails the flush, so the runtime
 * commits no offset past a record that was not written. A crash between a send and the offset commit writes
 * those records again after the restart. At most maxBufferedBytes are in flight at once.
 */
export class AtLeastOnceWriter implements OutputWriter {
  readonly guarantee = 'at-least-once';
  private readonly producer: Producer;
  private readonly options: WriterOptions;
  private readonly inFlight: { readonly done: Promise<void>; readonly bytes: number }[] = [];
  private inFlightBytes = 0;
  /** The first failed send; the task must restart from its last committed offsets. */
  private failure: { readonly error: unknown } | undefined;

  constructor(producer: Producer, options: WriterOptions) {
    this.producer = producer;
    this.options = options;
  }

  async add(records: readonly ProduceRecord[], bytes: number): Promise<void> {
    this.throwIfFailed();
    if (records.length === 0) return;
    const done = this.producer.send(records).then(
      () => {
        this.options.metrics.written.inc(records.length);
      },
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    const entry = {
      bytes,
      done: done.finally(() => {
        this.inFlightBytes -= bytes;
        this.options.metrics.buffered.set(this.inFlightBytes);
      }),
    };
    this.inFlight.push(entry);
    this.inFlightBytes += bytes;
    this.options.metrics.buffered.set(this.inFlightBytes);
    while (this.inFlightBytes > this.options.maxBufferedBytes && this.inFlight.length > 0) {
      await this.inFlight.shift()!.done;
    }
    this.throwIfFailed();
  }

  async flush(): Promise<void> {
    await Promise.all(this.inFlight.splice(0).map((e) => e.done));
    this.throwIfFailed();
  }

  async close(): Promise<void> {
    await this.producer.close();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.options.explain(this.failure.error, 'write');
  }
}

/** Kafka's answers to a producer whose epoch is no longer the transactional id's newest. */
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING']);
