import type { SinkRejection } from '@datamesh/core';
import type { BulkOperation } from './operations.js';
import type { RetryEpisode, Retrier } from './retry-policy.js';
import { isRetryable, SearchEngineError, type BulkItemResult, type SearchEngine } from './search-engine.js';
import type { SinkMetrics } from './sink-metrics.js';

export interface BulkWriterOptions {
  readonly engine: SearchEngine;
  readonly maxActions: number;
  readonly maxBytes: number;
  /** Lanes: bulk requests in flight at once. */
  readonly concurrency: number;
  readonly retrier: Retrier;
  readonly metrics: SinkMetrics;
}

/**
 * Item failures that may pass: the engine was busy (429) or failed on its side (5xx: a shard unavailable, a
 * node gone, a timeout under load). Only a 4xx is the document's fault and goes to the dead-letter topic; a
 * 5xx that never passes keeps the task retrying (with a warning), which is visible, where dead-lettering would
 * silently leave the index behind.
 */
function retryableItemStatus(status: number): boolean {
  return status === 429 || status >= 500;
}
const RETRYABLE_ITEM_TYPES = new Set([
  'es_rejected_execution_exception',
  'rejected_execution_exception',
  'unavailable_shards_exception',
  'cluster_block_exception',
]);

interface Request {
  readonly operations: readonly BulkOperation[];
  readonly bytes: number;
}

interface Lane {
  /** Operations not yet cut into a request, by document: only the newest per document is kept. */
  buffer: Map<string, BulkOperation>;
  bytes: number;
  /** Requests cut from this lane, sent one after another (the first is in flight). */
  readonly queue: Request[];
  running: boolean;
  /** Requests cut from this lane so far, and finished so far (they finish in the order they were cut). */
  cut: number;
  done: number;
}

/**
 * Sends bulk operations in lanes. A document always goes to the same lane (by a hash of index and id), and a
 * lane sends its requests one after another, each with all its retries done before the next: so operations
 * on one document never overlap or overtake each other. Within a lane's open buffer only the newest
 * operation per document is kept (versions make the states in between irrelevant).
 *
 * Memory is bounded: at most `concurrency × 2` requests are queued or in flight; `add` waits for room.
 * Retryable failures (no response, 429, 5xx; items rejected as busy) are retried until they pass or the
 * retrier stops; other item failures become rejections, taken with `takeRejections`. Any other failure of a
 * request is kept and thrown by the next `add` or `flush`: the task must restart from its last commit.
 */
export class BulkWriter {
  readonly maxRequests: number;
  private readonly options: BulkWriterOptions;
  private readonly lanes: Lane[];
  private requests = 0;
  private peak = 0;
  private bufferedBytes = 0;
  private failure: unknown;
  private rejections: SinkRejection[] = [];
  private waiters: (() => void)[] = [];

  constructor(options: BulkWriterOptions) {
    this.options = options;
    this.maxRequests = options.concurrency * 2;
    this.lanes = Array.from({ length: options.concurrency }, () => ({
      buffer: new Map(),
      bytes: 0,
      queue: [],
      running: false,
      cut: 0,
      done: 0,
    }));
  }

  /** Requests cut and not finished (queued or in flight), now and at most so far. */
  get requestsInFlight(): { readonly now: number; readonly peak: number } {
    return { now: this.requests, peak: this.peak };
  }

  /** True while anything is buffered, queued or in flight. */
  get pending(): boolean {
    return this.requests > 0 || this.lanes.some((lane) => lane.buffer.size > 0);
  }

  /** Buffers an operation; cuts a request when its lane is full, waiting for room when too many are out. */
  async add(operation: BulkOperation): Promise<void> {
    this.throwIfFailed();
    const { maxActions, maxBytes, metrics } = this.options;
    const lane = this.lanes[laneOf(operation.key, this.lanes.length)]!;
    const previous = lane.buffer.get(operation.key);
    if (previous) {
      if (
        operation.version !== undefined &&
        previous.version !== undefined &&
        operation.version < previous.version
      ) {
        metrics.staleWritesSkipped.inc();
        return;
      }
      lane.buffer.delete(operation.key);
      this.buffered(lane, -previous.bytes);
      metrics.operationsCompacted.inc();
    } else if (lane.buffer.size > 0 && lane.bytes + operation.bytes > maxBytes) {
      await this.cut(lane);
    }
    lane.buffer.set(operation.key, operation);
    this.buffered(lane, operation.bytes);
    if (lane.buffer.size >= maxActions || lane.bytes >= maxBytes) await this.cut(lane);
  }

  /**
   * Makes durable everything added before the call (throws a kept failure). Adds may go on meanwhile (the runtime keeps consuming while
   * a flush runs): the flush waits only for the requests cut up to its call, so a steady stream cannot starve it.
   */
  async flush(): Promise<void> {
    for (const lane of this.lanes) {
      if (lane.buffer.size > 0) await this.cut(lane);
    }
    const targets = this.lanes.map((lane) => lane.cut);
    while (this.lanes.some((lane, i) => lane.done < targets[i]!) && this.failure === undefined) {
      await this.changed();
    }
    this.throwIfFailed();
  }

  /** The records rejected since the last call. */
  takeRejections(): SinkRejection[] {
    const taken = this.rejections;
    this.rejections = [];
    return taken;
  }

  /** Drops what is buffered; requests in flight end with the engine's close or the retrier's stop. */
  close(): void {
    this.failure ??= new Error('the Elasticsearch sink is closed');
    for (const lane of this.lanes) {
      this.buffered(lane, -lane.bytes);
      lane.buffer = new Map();
    }
    this.notify();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Keeps the byte counts; the gauge follows when a request is cut or finishes (not per operation: cost). */
  private buffered(lane: Lane | undefined, bytes: number): void {
    if (lane) lane.bytes += bytes;
    this.bufferedBytes += bytes;
    if (!lane) this.options.metrics.bufferedBytes.set(this.bufferedBytes);
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Turns a lane's buffer into a request once there is room for one, and starts the lane. */
  private async cut(lane: Lane): Promise<void> {
    while (this.requests >= this.maxRequests && this.failure === undefined) await this.changed();
    this.throwIfFailed();
    // A flush and an add may both have waited for room to cut this lane: the first took its buffer.
    if (lane.buffer.size === 0) return;
    const operations = [...lane.buffer.values()];
    lane.queue.push({ operations, bytes: lane.bytes });
    lane.buffer = new Map();
    lane.bytes = 0;
    lane.cut++;
    this.requests++;
    this.options.metrics.bufferedBytes.set(this.bufferedBytes);
    this.peak = Math.max(this.peak, this.requests);
    if (!lane.running) void this.run(lane);
  }

  private async run(lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (lane.queue.length > 0 && this.failure === undefined) {
        const request = lane.queue[0]!;
        await this.send(request.operations);
        lane.queue.shift();
        lane.done++;
        this.requests--;
        this.buffered(undefined, -request.bytes);
        this.notify();
      }
    } catch (error) {
      this.failure ??= error;
    } finally {
      for (const request of lane.queue.splice(0)) {
        lane.done++;
        this.requests--;
        this.buffered(undefined, -request.bytes);
      }
      lane.running = false;
      this.notify();
    }
  }

  /** Sends one request until every item is done: retried items again, in a request of their own. */
  private async send(operations: readonly BulkOperation[]): Promise<void> {
    const { engine, metrics } = this.options;
    const episode = this.options.retrier.episode(`a bulk request of ${operations.length} actions`);
    let pending = operations;
    let succeeded = false;
    try {
      for (;;) {
        const started = performance.now();
        let items: readonly BulkItemResult[];
        try {
          items = (await engine.bulk(pending.map((operation) => operation.lines).join(''))).items;
        } catch (error) {
          metrics.bulkRequestSeconds.observe((performance.now() - started) / 1000);
          metrics.bulkRequests.inc({ outcome: 'failed' });
          if (error instanceof SearchEngineError && error.status === 413) {
            await this.sendTooLarge(pending, error);
            succeeded = true;
            return;
          }
          if (!isRetryable(error)) throw error;
          await episode.wait(error, 'request');
          continue;
        }
        metrics.bulkRequestSeconds.observe((performance.now() - started) / 1000);
        if (items.length !== pending.length) {
          throw new Error(`a bulk response answered ${items.length} items for ${pending.length} actions`);
        }
        const { retry, rejected } = this.settle(pending, items);
        metrics.bulkRequests.inc({ outcome: retry.length > 0 || rejected > 0 ? 'item_errors' : 'ok' });
        if (retry.length === 0) {
          succeeded = true;
          return;
        }
        pending = retry.map(({ operation }) => operation);
        await this.waitForItems(episode, retry);
      }
    } finally {
      episode.end(succeeded);
    }
  }

  /** Counts what each item did; answers the items to retry, and keeps the rejected ones. */
  private settle(
    operations: readonly BulkOperation[],
    items: readonly BulkItemResult[],
  ): { retry: { operation: BulkOperation; item: BulkItemResult }[]; rejected: number } {
    const { metrics } = this.options;
    const retry: { operation: BulkOperation; item: BulkItemResult }[] = [];
    let rejected = 0;
    // Counted per request, not per item: a labelled prom-client update costs about a microsecond.
    let indexed = 0;
    let deleted = 0;
    let stale = 0;
    items.forEach((item, i) => {
      const operation = operations[i]!;
      const { status } = item;
      const type = item.error?.type;
      if ((status >= 200 && status < 300) || (status === 404 && operation.action === 'delete')) {
        // A delete of a missing document (404 not_found) still leaves its versioned tombstone.
        if (operation.action === 'delete') deleted++;
        else indexed++;
      } else if (status === 409 && type === 'version_conflict_engine_exception') {
        stale++;
      } else if (retryableItemStatus(status) || (type !== undefined && RETRYABLE_ITEM_TYPES.has(type))) {
        retry.push({ operation, item });
      } else {
        rejected++;
        this.reject(operation, `${type ?? `status ${status}`}: ${item.error?.reason ?? 'no reason given'}`);
      }
    });
    if (indexed > 0) metrics.documentsIndexed.inc(indexed);
    if (deleted > 0) metrics.documentsDeleted.inc(deleted);
    if (stale > 0) metrics.staleWritesSkipped.inc(stale);
    return { retry, rejected };
  }

  private async waitForItems(
    episode: RetryEpisode,
    retry: readonly { operation: BulkOperation; item: BulkItemResult }[],
  ): Promise<void> {
    const { item } = retry[0]!;
    const reason = new Error(
      `${retry.length} bulk items answered ${item.status} ${item.error?.type ?? ''}: ${item.error?.reason ?? ''}`.trim(),
    );
    await episode.wait(reason, 'items');
  }

  /** 413: split the request in halves (in order); a single document too large is rejected. */
  private async sendTooLarge(operations: readonly BulkOperation[], error: SearchEngineError): Promise<void> {
    if (operations.length === 1) {
      this.reject(
        operations[0]!,
        `request_entity_too_large: the document (${operations[0]!.bytes} bytes of bulk body) is larger than the engine accepts (${error.message})`,
      );
      return;
    }
    const half = Math.ceil(operations.length / 2);
    await this.send(operations.slice(0, half));
    await this.send(operations.slice(half));
  }

  private reject(operation: BulkOperation, what: string): void {
    const { record, action, id, index } = operation;
    const { topic, partition, offset } = record.position;
    this.rejections.push({
      record,
      error: new Error(
        `${what} (${action} of document "${id}" in index "${index}", from ${topic}/${partition}@${offset})`,
      ),
    });
  }
}

/** The lane of a document: FNV-1a of its key, so the same document always takes the same lane. */
export function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}
