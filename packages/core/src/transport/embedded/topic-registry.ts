import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopicConfig } from '../transport.js';
import { fsyncDirectory, isErrno } from './durable-file.js';
import { PartitionLog, type PartitionLogOptions } from './partition-log.js';
import {
  readTopicConfig,
  sameTopicConfig,
  validateTopicConfig,
  validateTopicName,
  writeTopicConfig,
} from './topic-config.js';

export interface TopicState {
  readonly name: string;
  config: TopicConfig;
  readonly logs: PartitionLog[];
}

export interface TopicRegistryOptions {
  /** `<dir>/topics`. */
  readonly root: string;
  readonly readOnly: boolean;
  readonly log: Omit<PartitionLogOptions, 'dir' | 'readOnly' | 'onAppend'>;
  readonly onAppend: (topic: string) => void;
  /** A topic appeared or gained partitions. */
  readonly onTopicsChanged: () => void;
}

/**
 * The topics on disk: `<root>/<topic>/topic.json` and one directory of segments per partition. A topic
 * exists once its `topic.json` does; it is written last, after the partition directories.
 */
export class TopicRegistry {
  private readonly topics = new Map<string, TopicState>();
  private lastRefresh = 0;
  private refreshing: Promise<void> | undefined;
  private changing: Promise<unknown> = Promise.resolve();

  private readonly options: TopicRegistryOptions;

  private constructor(options: TopicRegistryOptions) {
    this.options = options;
  }

  static async open(options: TopicRegistryOptions): Promise<TopicRegistry> {
    const registry = new TopicRegistry(options);
    if (!options.readOnly) await mkdir(options.root, { recursive: true });
    await registry.load();
    return registry;
  }

  get(name: string): TopicState | undefined {
    return this.topics.get(name);
  }

  all(): TopicState[] {
    return [...this.topics.values()];
  }

  /**
   * Creates the topic, or updates an existing one: more partitions are added (fewer is an error, as on Kafka),
   * and the settings given replace the stored ones while those left undefined keep their stored value.
   */
  ensure(name: string, config: TopicConfig): Promise<void> {
    validateTopicName(name);
    validateTopicConfig(name, config);
    const run = this.changing.then(() => this.ensureNow(name, config));
    this.changing = run.catch(() => undefined);
    return run;
  }

  /** Read-only openers: picks up topics the writer process created or grew, at most every `intervalMs`. */
  refresh(intervalMs: number): Promise<void> {
    if (!this.options.readOnly) return Promise.resolve();
    const now = Date.now();
    if (this.refreshing !== undefined) return this.refreshing;
    if (now - this.lastRefresh < intervalMs) return Promise.resolve();
    this.lastRefresh = now;
    this.refreshing = this.load().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  async close(): Promise<void> {
    await this.changing;
    await Promise.all(this.all().flatMap((topic) => topic.logs.map((log) => log.close())));
  }

  private async ensureNow(name: string, requested: TopicConfig): Promise<void> {
    const existing = this.topics.get(name);
    const config = normalise(
      existing === undefined ? requested : { ...existing.config, ...definedOnly(requested) },
    );
    if (existing !== undefined && sameTopicConfig(existing.config, config)) return;
    if (this.options.readOnly) {
      throw new Error(
        existing === undefined
          ? `topic "${name}" does not exist and the transport was opened read-only`
          : `cannot change topic "${name}": the transport was opened read-only`,
      );
    }
    if (existing !== undefined && config.partitions < existing.config.partitions) {
      throw new Error(
        `topic "${name}" has ${existing.config.partitions} partitions; the count can grow but not shrink (asked for ${config.partitions})`,
      );
    }
    const dir = join(this.options.root, name);
    const logs = existing?.logs ?? [];
    for (let p = logs.length; p < config.partitions; p++) logs.push(await this.openLog(name, dir, p));
    await writeTopicConfig(dir, config);
    if (existing === undefined && this.options.log.fsync !== 'never') await fsyncDirectory(this.options.root);
    if (existing === undefined) this.topics.set(name, { name, config, logs });
    else existing.config = config;
    this.options.onTopicsChanged();
  }

  private async load(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.options.root);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return;
      throw error;
    }
    let changed = false;
    for (const name of names.sort()) {
      const dir = join(this.options.root, name);
      const config = await readTopicConfig(dir);
      if (config === undefined) continue;
      const existing = this.topics.get(name);
      if (existing !== undefined && sameTopicConfig(existing.config, config)) continue;
      const logs = existing?.logs ?? [];
      for (let p = logs.length; p < config.partitions; p++) logs.push(await this.openLog(name, dir, p));
      if (existing === undefined) this.topics.set(name, { name, config, logs });
      else existing.config = config;
      changed = true;
    }
    if (changed) this.options.onTopicsChanged();
  }

  private openLog(topic: string, topicDir: string, partition: number): Promise<PartitionLog> {
    return PartitionLog.open({
      ...this.options.log,
      dir: join(topicDir, String(partition)),
      readOnly: this.options.readOnly,
      onAppend: () => this.options.onAppend(topic),
    });
  }
}

function definedOnly(config: TopicConfig): Partial<TopicConfig> {
  return Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined));
}

function normalise(config: TopicConfig): TopicConfig {
  return {
    partitions: config.partitions,
    ...(config.compacted === true ? { compacted: true } : {}),
    ...(config.retentionMs !== undefined ? { retentionMs: config.retentionMs } : {}),
    ...(config.retentionBytes !== undefined ? { retentionBytes: config.retentionBytes } : {}),
  };
}
