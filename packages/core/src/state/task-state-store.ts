import type { StateStore } from '../contract/context.js';
import type { Logger } from '../contract/context.js';
import type {
  ProduceRecord,
  Producer,
  RecordMetadata,
  Transaction,
  Transport,
} from '../transport/transport.js';
import { LocalKvStore } from './local-kv-store.js';

/**
 * The compacted topic holding a stateful stage's changelog; a task run once per input partition keeps one per
 * partition number. Pipeline and stage names are kebab-case, so the dots cannot be mistaken.
 */
export function stateChangelogTopic(pipeline: string, stage: string, partition?: number): string {
  return `__datamesh_state.${pipeline}.${stage}${partition === undefined ? '' : `.${partition}`}`;
}

/** Changelog offset the local store has applied every record before. */
const APPLIED = 'changelog-applied';
/** Names the restore consumer group of this life of the local store. */
const GENERATION = 'restore-generation';
/** Set once the store has read (or written) its changelog's birth record. */
const BORN = 'born';
/**
 * The changelog's birth record: written when the runtime confirms the stage may start with empty state. A
 * changelog without it was created by an attempt that found the state lost, so the loss is seen again on every
 * restart, not only on the first. Its key is no key the stage can use (stage keys are plain strings).
 */
const BIRTH_KEY = '\u0000datamesh:born';

export interface TaskStateStoreOptions {
  readonly transport: Transport;
  readonly topic: string;
  /** The SQLite file, or `:memory:`. */
  readonly path: string;
  readonly logger: Logger;
  /** Aborts a restore when the task stops. */
  readonly signal?: AbortSignal;
}

/** A restore that reads nothing for this long fails (and the task restarts) rather than hang. */
const RESTORE_STALL_MS = 60_000;

/** How a store came back when opened. */
export interface RestoreReport {
  /** Changelog records applied while opening. */
  readonly replayed: number;
  /**
   * The store has no state it can vouch for: its changelog is new (a first start, or it was deleted), was
   * recreated, or lost records. The runtime checks whether the stage may start empty and then calls `born()`.
   */
  readonly unborn: boolean;
  /** Entries the store holds. */
  readonly entries: number;
}

/**
 * The state store of a stateful stage: a local SQLite store in front of a compacted changelog topic.
 *
 * Writes apply to the local store at once (reads see them) and are collected as changelog records. `flush`
 * appends those records to the topic and then commits the local transaction; the runtime calls it before it
 * commits the input offsets, so committed input is always covered by durable state. Where the transport has
 * transactions the runtime calls `flushInto` instead: the records join the transaction that also commits the
 * task's outputs and input offsets. A crash loses only writes whose input was not committed either: they are
 * made again when that input is read again.
 *
 * Opening replays the changelog into the local store from where the local store left off (a restart on the
 * same disk reads little), or from the beginning when the local store is new or behind (a task moved to
 * another node, a wiped disk): replaying any suffix of the changelog over a store that applied a prefix of it
 * ends in the same state.
 */
export class TaskStateStore implements StateStore {
  private readonly local: LocalKvStore;
  private readonly transport: Transport;
  private readonly topic: string;
  private readonly producer: Producer;
  private pending: ProduceRecord[] = [];
  private flushing: Promise<void> | undefined;

  private constructor(local: LocalKvStore, options: TaskStateStoreOptions) {
    this.local = local;
    this.transport = options.transport;
    this.topic = options.topic;
    this.producer = options.transport.producer();
  }

  static async open(
    options: TaskStateStoreOptions,
  ): Promise<{ store: TaskStateStore; report: RestoreReport }> {
    const local = new LocalKvStore(options.path);
    try {
      const report = await restore(local, options);
      return { store: new TaskStateStore(local, options), report };
    } catch (error) {
      local.close();
      throw error;
    }
  }

  get<T = unknown>(key: string): T | undefined {
    return this.local.get(key) as T | undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.local.put(key, value);
    this.pending.push({
      topic: this.topic,
      key: Buffer.from(key),
      value: Buffer.from(JSON.stringify(value)),
    });
  }

  async delete(key: string): Promise<void> {
    this.local.delete(key);
    this.pending.push({ topic: this.topic, key: Buffer.from(key), value: null });
  }

  entries(prefix = ''): IterableIterator<[string, unknown]> {
    return this.local.entries(prefix);
  }

  /**
   * Makes every write made before the call durable: in the changelog topic, then in the local store. Writes
   * made while it runs wait for the next flush.
   */
  flush(): Promise<void> {
    // The local commit covers the whole open transaction, so a write made while a flush sends would be committed
    // locally without being in the changelog: callers flush with no processing in between (the runtime awaits
    // the commit of a task whose stage has state; such a task never ends in a concurrently flushed sink).
    const previous = this.flushing ?? Promise.resolve();
    const records = this.pending;
    this.pending = [];
    const run = previous.then(async () => {
      if (records.length === 0) return;
      const written = await this.producer.send(records);
      // One partition: the records' offsets rise, the last is the highest.
      this.local.setMeta(APPLIED, String(written[written.length - 1]!.offset + 1));
      this.local.commit();
    });
    // A failed flush fails the caller (the task restarts); the chain only orders flushes.
    const settled: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    );
    this.flushing = settled;
    void settled.then(() => {
      if (this.flushing === settled) this.flushing = undefined;
    });
    return run;
  }

  /**
   * The transactional form of `flush`: writes the changelog records of every write since the last flush into
   * the caller's transaction, which also carries the task's outputs and input offsets. The returned function
   * commits the local store; call it with what the transaction's commit resolved to. A transaction that fails
   * leaves the task to restart: closing the store drops the local writes, and the aborted records are never read
   * back.
   */
  async flushInto(transaction: Transaction): Promise<(committed: readonly RecordMetadata[]) => void> {
    const records = this.pending;
    this.pending = [];
    await transaction.send(records);
    return (committed) => {
      // One partition: the highest offset the transaction gave this topic is its last record's.
      let next = -1;
      for (const r of committed) if (r.topic === this.topic) next = Math.max(next, r.offset + 1);
      if (next >= 0) this.local.setMeta(APPLIED, String(next));
      this.local.commit();
    };
  }

  /** Records that the stage starts with empty state on purpose: the changelog's birth record. */
  async born(): Promise<void> {
    await this.producer.send([{ topic: this.topic, key: Buffer.from(BIRTH_KEY), value: Buffer.from('{}') }]);
    this.local.setMeta(BORN, '1');
    this.local.commit();
  }

  async close(): Promise<void> {
    await this.flushing?.catch(() => undefined);
    // Unflushed writes belong to input that was not committed: they are dropped, as a crash would.
    this.local.close();
    await this.producer.close();
  }
}

async function restore(local: LocalKvStore, options: TaskStateStoreOptions): Promise<RestoreReport> {
  const { transport, topic, logger } = options;
  const described = await transport.describeTopic(topic);
  const applied = Number(local.meta(APPLIED) ?? 0);
  if (!described) {
    await transport.ensureTopic(topic, { partitions: 1, compacted: true });
    // A local store without its changelog (the topic was deleted) holds nothing durable: it is dropped, and
    // the runtime decides whether the stage may start empty.
    local.clear();
    local.commit();
    return { replayed: 0, unborn: true, entries: 0 };
  }
  const end = described.endOffsets[0] ?? 0;
  if (applied > end) {
    // The changelog is shorter than what the local store applied: recreated, or records were lost.
    logger.warn(
      { topic, applied, end },
      'state changelog is shorter than the local store: its state is lost',
    );
    local.clear();
    local.commit();
    return { replayed: 0, unborn: true, entries: 0 };
  }
  // Each life of the local store has a restore group, which remembers how far the last restore read. Reading on
  // from there re-applies, in order, some records the store already has, which is harmless; a new store (none
  // applied) gets a new group and reads the changelog from its beginning.
  let generation = local.meta(GENERATION);
  if (generation === undefined || applied === 0) {
    local.clear();
    generation = `${process.pid}.${Date.now()}`;
    local.setMeta(GENERATION, generation);
  }
  let replayed = 0;
  if (end > 0) {
    const consumer = transport.consumer({
      group: `${topic}.restore.${generation}`,
      topics: [topic],
      fromBeginning: true,
    });
    try {
      // Where the group stands decides where reading starts; a consumer that starts at the end fetches nothing
      // and so could never tell it is there.
      let position = (await consumer.committed()).find((o) => o.partition === 0)?.offset ?? 0;
      const start = position;
      let progressed = Date.now();
      while (position < end) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (Date.now() - progressed > RESTORE_STALL_MS) {
          throw new Error(
            `restoring state from topic "${topic}" stalled at offset ${position} of ${end} for ${RESTORE_STALL_MS / 1000} s`,
          );
        }
        const records = await consumer.poll({
          maxRecords: 10_000,
          maxWaitMs: 200,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        if (records.length > 0) progressed = Date.now();
        for (const record of records) {
          position = Math.max(position, record.offset + 1);
          if (!record.key) continue;
          const key = record.key.toString('utf8');
          if (key === BIRTH_KEY) {
            local.setMeta(BORN, '1');
            continue;
          }
          if (record.value === null) local.delete(key);
          else local.put(key, JSON.parse(record.value.toString('utf8')));
          replayed++;
        }
        if (records.length > 0) continue;
        // Offsets no reader sees (compacted away, transaction markers) end the read once passed.
        if (!consumer.readUpTo || consumer.readUpTo(topic, [end])) break;
      }
      // The local store commits first: a crash between the two then re-reads records the store has, where the
      // other order would skip records it lacks.
      local.setMeta(APPLIED, String(Math.max(applied, end)));
      local.commit();
      if (position > start) await consumer.commit([{ topic, partition: 0, offset: position }]);
    } finally {
      await consumer.close();
    }
  }
  local.setMeta(APPLIED, String(Math.max(applied, end)));
  local.commit();
  return {
    replayed,
    unborn: local.meta(BORN) === undefined,
    entries: local.size(),
  };
}
