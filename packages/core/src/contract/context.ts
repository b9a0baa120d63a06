import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { AvroRecordSchema, AvroSchema, CompatibilityMode } from '../schema/avro.js';
import type { Transport } from '../transport/transport.js';

export type { Logger };

/** A JSON value a source uses to resume (an LSN, a binlog file and offset, a cursor). */
export type Position = Readonly<Record<string, unknown>>;

/**
 * Metrics a plugin adds of its own. Names are prefixed `datamesh_plugin_<plugin>_` and carry
 * the pipeline, stage and plugin labels; the plugin names only its extra labels.
 */
export interface PluginMetrics {
  counter(name: string, help: string, labelNames?: readonly string[]): Counter<string>;
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge<string>;
  histogram(
    name: string,
    help: string,
    buckets?: readonly number[],
    labelNames?: readonly string[],
  ): Histogram<string>;
}

export interface RegisteredSchema {
  readonly subject: string;
  readonly id: number;
  readonly version: number;
  readonly schema: AvroSchema;
}

/** Schema registry access: register versions under a subject (checked for compatibility), look them up. */
export interface SchemaAccess {
  /**
   * Registers a schema under a subject, or answers with the version that already holds it. A new version is
   * checked against the subject's compatibility level in the registry (BACKWARD unless configured) and, when
   * `mode` is given, against that level too.
   */
  register(subject: string, schema: AvroSchema, mode?: CompatibilityMode): Promise<RegisteredSchema>;
  latest(subject: string): Promise<RegisteredSchema | undefined>;
  byId(id: number): Promise<RegisteredSchema | undefined>;
}

/**
 * A durable key-value store private to one stage. A stateful processor's store is local (SQLite) and backed by
 * a compacted changelog topic, so the state survives restarts and can move between nodes: reads see every
 * write at once, and writes become durable together before the input offsets that led to them are committed.
 */
export interface StateStore {
  get<T = unknown>(key: string): T | undefined;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Entries whose key starts with `prefix` (all when absent); in key order for a processor's store. */
  entries(prefix?: string): IterableIterator<[string, unknown]>;
}

/** The durable position of a source task: what the runtime stored after the transport acknowledged. */
export interface Checkpoints {
  /** The last position whose events are durable in the transport, if any. */
  committed(): Promise<Position | undefined>;
}

/** An input of a processor: the name it goes by (`ProcessorInput.name`) and its schemas. */
export interface ProcessorInputSchemas {
  readonly name: string;
  readonly keySchema: AvroRecordSchema;
  readonly valueSchema: AvroRecordSchema;
}

/** Everything a plugin receives. There are no globals: a plugin uses only this. */
export interface PluginContext {
  readonly pipeline: string;
  readonly stage: string;
  readonly plugin: string;
  readonly logger: Logger;
  readonly metrics: PluginMetrics;
  readonly schemas: SchemaAccess;
  readonly state: StateStore;
  readonly checkpoints: Checkpoints;
  /** Aborted when the task must stop; long waits inside a plugin should honour it. */
  readonly signal: AbortSignal;
  /**
   * For a processor: its inputs as `plan` saw them, in the pipeline's order (a join tells its left input from
   * its right by it). Absent for sources and sinks.
   */
  readonly inputs?: readonly ProcessorInputSchemas[];
  /**
   * The node's transport, for plugins whose output is itself a topic of it (sink-kafka writes there, in
   * transactions with the input offsets). Absent where a plugin runs without one (unit tests).
   */
  readonly transport?: Transport;
}
