import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type {
  Consumer,
  ConsumerOptions,
  Producer,
  TopicConfig,
  TransactionalProducer,
  Transport,
} from '../transport.js';
import { DefaultPartitioner } from '../partitioner.js';
import { AppendGate } from './append-gate.js';
import { AppendNotifier } from './append-notifier.js';
import { compactLog } from './compaction.js';
import { ConsumerGroups } from './consumer-group.js';
import { acquireDirLock, type DirLock } from './dir-lock.js';
import { EmbeddedConsumer } from './embedded-consumer.js';
import { EmbeddedProducer } from './embedded-producer.js';
import { EmbeddedTransactionalProducer, TransactionCoordinator } from './embedded-transaction.js';
import { GroupOffsetStore } from './group-offsets.js';
import type { FsyncPolicy, RecoveryReport } from './partition-log.js';
import { applyRetention } from './retention.js';
import { TopicRegistry } from './topic-registry.js';
import { TransactionJournal, type TransactionRecovery } from './transaction-journal.js';

export interface EmbeddedTransportOptions {
  /** Directory of the log; created when missing (unless read-only). */
  readonly dir: string;
  /**
   * Open for inspection while another process writes: takes no lock, refuses sends, commits and topic
   * changes, and picks up what the writer appends (checking every `tailIntervalMs`).
   */
  readonly readOnly?: boolean;
  /** When appends reach stable storage; see `FsyncPolicy`. Default `interval`. */
  readonly fsync?: FsyncPolicy;
  /** Default 1000. */
  readonly fsyncIntervalMs?: number;
  /** A segment is closed and a new one started past this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Bytes of records between two sparse-index entries. Default 4 KiB. */
  readonly indexIntervalBytes?: number;
  /** Bytes read from a segment at once by a consumer. Default 1 MiB. */
  readonly readChunkBytes?: number;
  /** How often retention and compaction run; 0 disables the timer (call `runMaintenance()`). Default 60 s. */
  readonly maintenanceIntervalMs?: number;
  /** How long compaction keeps tombstones after a first pass has seen them. Default 24 h. */
  readonly tombstoneRetentionMs?: number;
  /** Read-only openers: how often to look for the writer's appends and new topics. Default 100 ms. */
  readonly tailIntervalMs?: number;
}

export interface MaintenanceReport {
  readonly segmentsDeleted: number;
  readonly segmentsCompacted: number;
  readonly recordsCompactedAway: number;
}

/** A torn tail cut by recovery when the log was opened. */
export interface TopicRecoveryReport extends RecoveryReport {
  readonly topic: string;
  readonly partition: number;
}

type Settings = Required<Omit<EmbeddedTransportOptions, 'dir' | 'readOnly'>>;

const MiB = 1024 * 1024;

/**
 * The transport for one machine: a durable, segmented log per partition on local disk, with Kafka's
 * semantics where they matter (per-partition offsets from 0, committed offset = next offset to read, murmur2
 * key partitioning, consumer groups splitting partitions).
 *
 * Layout under `dir`: `LOCK` (pid of the writer), `topics/<topic>/topic.json`,
 * `topics/<topic>/<partition>/<baseOffset>.log` segments, `groups/<group>.json` committed offsets, and
 * `transaction.journal` while a transaction is applied (see `TransactionCoordinator`).
 *
 * Consumer groups are coordinated within one instance: members in other processes are not seen.
 */
export class EmbeddedTransport implements Transport {
  readonly kind = 'embedded';
  private readonly notifier = new AppendNotifier();
  private readonly partitioner = new DefaultPartitioner();
  private readonly gate = new AppendGate();
  private readonly producers = new Set<EmbeddedProducer | EmbeddedTransactionalProducer>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private readonly timers: NodeJS.Timeout[] = [];
  private maintenance: Promise<MaintenanceReport> | undefined;
  private closing: Promise<void> | undefined;
  // Assigned in open(); the constructor stays private so no instance exists before its files are loaded.
  private topics!: TopicRegistry;
  private groups!: ConsumerGroups;
  private transactions!: TransactionCoordinator;
  private lock: DirLock | undefined;
  /** The committed transaction opening finished, when a crash had left one half applied. */
  transactionRecovery: TransactionRecovery | undefined;

  readonly dir: string;
  readonly readOnly: boolean;
  private readonly settings: Settings;

  private constructor(dir: string, readOnly: boolean, settings: Settings) {
    this.dir = dir;
    this.readOnly = readOnly;
    this.settings = settings;
  }

  static async open(options: EmbeddedTransportOptions): Promise<EmbeddedTransport> {
    const dir = resolve(options.dir);
    const readOnly = options.readOnly ?? false;
    const settings = {
      fsync: options.fsync ?? 'interval',
      fsyncIntervalMs: options.fsyncIntervalMs ?? 1000,
      segmentBytes: options.segmentBytes ?? 64 * MiB,
      indexIntervalBytes: options.indexIntervalBytes ?? 4096,
      readChunkBytes: options.readChunkBytes ?? MiB,
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? 60_000,
      tombstoneRetentionMs: options.tombstoneRetentionMs ?? 24 * 60 * 60 * 1000,
      tailIntervalMs: options.tailIntervalMs ?? 100,
    } satisfies Settings;
    if (!(settings.segmentBytes > 0)) throw new Error('segmentBytes must be > 0');
    if (!['always', 'interval', 'never'].includes(settings.fsync))
      throw new Error(`unknown fsync policy "${settings.fsync}"`);

    const transport = new EmbeddedTransport(dir, readOnly, settings);
    if (readOnly) {
      const info = await stat(dir).catch(() => undefined);
      if (info === undefined || !info.isDirectory())
        throw new Error(`${dir} does not exist (opened read-only)`);
    } else {
      await mkdir(dir, { recursive: true });
      transport.lock = await acquireDirLock(dir);
    }
    try {
      await transport.load();
    } catch (error) {
      await transport.lock?.release();
      throw error;
    }
    return transport;
  }

  /** Torn tails cut when the log was opened (empty after a clean shutdown). */
  get recoveries(): TopicRecoveryReport[] {
    return this.topics
      .all()
      .flatMap((topic) =>
        topic.logs.flatMap((log, partition) =>
          log.recovery ? [{ ...log.recovery, topic: topic.name, partition }] : [],
        ),
      );
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<void> {
    this.assertOpen();
    if (this.readOnly) await this.topics.refresh(0);
    await this.topics.ensure(name, config);
  }

  async listTopics(): Promise<string[]> {
    this.assertOpen();
    await this.topics.refresh(0);
    return this.topics
      .all()
      .map((t) => t.name)
      .sort();
  }

  async describeTopic(
    name: string,
  ): Promise<(TopicConfig & { readonly endOffsets: readonly number[] }) | undefined> {
    this.assertOpen();
    await this.topics.refresh(0);
    const topic = this.topics.get(name);
    if (topic === undefined) return undefined;
    if (this.readOnly) await Promise.all(topic.logs.map((log) => log.catchUp()));
    return { ...topic.config, endOffsets: topic.logs.map((log) => log.endOffset) };
  }

  /** The first offset still stored per partition (after retention), which Kafka calls the log start offset. */
  async startOffsets(name: string): Promise<number[] | undefined> {
    this.assertOpen();
    return this.topics.get(name)?.logs.map((log) => log.startOffset);
  }

  producer(): Producer {
    this.assertOpen();
    const producer = new EmbeddedProducer({
      topics: this.topics,
      partitioner: this.partitioner,
      readOnly: this.readOnly,
      gate: this.gate,
      assertWritable: () => this.transactions.assertWritable(),
      onClose: (p) => this.producers.delete(p),
    });
    this.producers.add(producer);
    return producer;
  }

  /** Transactions (see `TransactionCoordinator`): what a task writes and the offsets it read commit together. */
  transactionalProducer(transactionalId: string): TransactionalProducer {
    this.assertOpen();
    const producer = new EmbeddedTransactionalProducer(
      transactionalId,
      this.transactions,
      this.readOnly,
      (p) => this.producers.delete(p),
    );
    this.producers.add(producer);
    return producer;
  }

  consumer(options: ConsumerOptions): Consumer {
    this.assertOpen();
    const consumer = new EmbeddedConsumer(options, {
      topics: this.topics,
      groups: this.groups,
      notifier: this.notifier,
      readOnly: this.readOnly,
      tailIntervalMs: this.settings.tailIntervalMs,
      onClose: (c) => this.consumers.delete(c),
    });
    this.consumers.add(consumer);
    return consumer;
  }

  /** Applies retention and compacts compacted topics now (a timer does it every `maintenanceIntervalMs`). */
  runMaintenance(now: number = Date.now()): Promise<MaintenanceReport> {
    if (this.readOnly)
      return Promise.resolve({ segmentsDeleted: 0, segmentsCompacted: 0, recordsCompactedAway: 0 });
    this.maintenance ??= this.maintain(now).finally(() => {
      this.maintenance = undefined;
    });
    return this.maintenance;
  }

  /** Stops the timers, closes consumers and producers, flushes (and syncs, unless `fsync: 'never'`), unlocks. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async load(): Promise<void> {
    this.topics = await TopicRegistry.open({
      root: join(this.dir, 'topics'),
      readOnly: this.readOnly,
      log: {
        segmentBytes: this.settings.segmentBytes,
        indexIntervalBytes: this.settings.indexIntervalBytes,
        readChunkBytes: this.settings.readChunkBytes,
        fsync: this.settings.fsync,
        tailIntervalMs: this.settings.tailIntervalMs,
      },
      onAppend: (topic) => this.notifier.notify(topic),
      onTopicsChanged: () => this.groups?.topicsChanged(),
    });
    this.groups = new ConsumerGroups(
      new GroupOffsetStore(join(this.dir, 'groups')),
      (topic) => this.topics.get(topic)?.config.partitions,
      this.readOnly,
    );
    const journal = new TransactionJournal(this.dir, this.settings.fsync === 'always');
    const storeOffsets = this.groups.storeCommitted.bind(this.groups);
    this.transactions = new TransactionCoordinator({
      topics: this.topics,
      partitioner: this.partitioner,
      gate: this.gate,
      journal,
      storeOffsets,
    });
    if (this.readOnly) return;
    this.transactionRecovery = await journal.complete(this.topics, storeOffsets);
    if (this.settings.fsync === 'interval') {
      this.timers.push(setInterval(() => void this.syncAll(), this.settings.fsyncIntervalMs).unref());
    }
    if (this.settings.maintenanceIntervalMs > 0) {
      this.timers.push(
        setInterval(
          () => void this.runMaintenance().catch(() => undefined),
          this.settings.maintenanceIntervalMs,
        ).unref(),
      );
    }
  }

  /** fsyncs every partition with unsynced appends now, whatever the policy's timer (a no-op with `never`). */
  async sync(): Promise<void> {
    const results = await Promise.allSettled(
      this.topics.all().flatMap((t) => t.logs.map((log) => log.sync())),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async syncAll(): Promise<void> {
    // A failed fsync marks its log failed (later appends reject), so there is nothing more to do here.
    await Promise.allSettled(this.topics.all().flatMap((t) => t.logs.map((log) => log.sync())));
  }

  private async maintain(now: number): Promise<MaintenanceReport> {
    let segmentsDeleted = 0;
    let segmentsCompacted = 0;
    let recordsCompactedAway = 0;
    for (const topic of this.topics.all()) {
      for (const log of topic.logs) {
        if (this.closing !== undefined) break;
        segmentsDeleted += await applyRetention(log, topic.config, now);
        if (topic.config.compacted === true) {
          const result = await compactLog(log, {
            now,
            tombstoneRetentionMs: this.settings.tombstoneRetentionMs,
          });
          segmentsCompacted += result.segmentsRewritten;
          recordsCompactedAway += result.recordsRemoved;
        }
      }
    }
    return { segmentsDeleted, segmentsCompacted, recordsCompactedAway };
  }

  private async closeNow(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([...this.consumers].map((c) => c.close()));
    await Promise.all([...this.producers].map((p) => p.close()));
    await this.transactions.close();
    this.notifier.wakeAll();
    await this.maintenance?.catch(() => undefined);
    try {
      await this.topics.close();
    } finally {
      await this.lock?.release();
    }
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new Error('the transport is closed');
  }
}
