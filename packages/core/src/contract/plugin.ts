import type { Static, TSchema } from './config-schema.js';
import type { ChangeEvent } from './envelope.js';
import type { PluginContext, Position, ProcessorInputSchemas } from './context.js';
import type { StreamSchemas } from '../schema/envelope-schema.js';
import type { TopicPartitionOffset, Transport } from '../transport/transport.js';
import { CONTRACT_VERSION, PLUGIN_BRAND } from './version.js';

export type PluginKind = 'source' | 'processor' | 'sink';

/** A stream a source produces: one entity (a table, an application's domain events). */
export interface StreamDeclaration extends StreamSchemas {
  /** Stable name, e.g. `public.orders`; the default topic is `<source stage>.<name>`. */
  readonly name: string;
  readonly description?: string;
}

/** One event of a source batch. */
export interface SourceBatchEvent {
  readonly stream: string;
  readonly event: ChangeEvent;
  /**
   * The stream's schemas from this event on, when they changed (a column added, a type altered). The runtime
   * registers them as a new version under the topic's subjects, checked against the compatibility level; an
   * incompatible change halts the source before this event, with nothing after the batch's start written.
   */
  readonly schemas?: StreamSchemas;
}

/** A batch read from a source, with the position to resume after it. */
export interface SourceBatch {
  readonly events: readonly SourceBatchEvent[];
  /** Resuming from this position yields the events after this batch, never the batch again. */
  readonly position: Position;
}

/**
 * A running source. The runtime reads a batch, makes it durable in the transport, stores the
 * position, and only then calls `acknowledge` — the source releases log space there and nowhere else.
 */
export interface SourceTask {
  /** Starts reading after `from`, or from the beginning (with a snapshot, where the source has one). */
  start(from: Position | undefined): Promise<void>;
  /** The next batch, or undefined when nothing arrived before `signal` or the source's own poll timeout. */
  read(signal: AbortSignal): Promise<SourceBatch | undefined>;
  /** `position` and everything before it is durable downstream. */
  acknowledge(position: Position): Promise<void>;
  /** The position the source has released upstream (e.g. a replication slot's confirmed LSN), if it can tell. */
  releasedPosition?(): Promise<Position | undefined>;
  stop(): Promise<void>;
}

/** An input as `plan` sees it. `name` is the resolved reference: `<source stage>/<stream>` or `<processor stage>`. */
export type ProcessorInput = ProcessorInputSchemas;

/** An output field and the input fields it is computed from. */
export interface FieldLineage {
  readonly output: string;
  readonly inputs: readonly { readonly input: string; readonly field: string }[];
  readonly transform?: string;
}

/**
 * An input field a processor reads (`after.amount`, `before.id`, `op`, `source.table`): what lets the control
 * plane tell which source fields a pipeline really uses, and which schema changes cannot affect it.
 */
export interface ConsumedField {
  readonly input: string;
  readonly field: string;
}

export interface ProcessorPlan extends StreamSchemas {
  readonly lineage: readonly FieldLineage[];
  /**
   * Every input field the processor reads, for its output or its decisions (a filter's condition, a join's
   * key). Optional in the type for plugins built against contract 1.0; the conformance suite requires it.
   */
  readonly consumes?: readonly ConsumedField[];
  /**
   * Stateful processors: true when events of different input partitions never meet in the processor's state
   * (a count per input key: its input is partitioned by that key). The runtime may then run the task once per
   * input partition number, spread over the nodes, each instance with that partition's share of the state.
   * Default false: one instance holds every partition and all the state. Stateless processors always may.
   */
  readonly perPartition?: boolean;
}

/**
 * Thrown by a processor or sink for a failure that is not the event's fault (a lookup timed out, a service
 * is down): the task restarts with backoff and retries the event, instead of sending it to the dead-letter
 * topic as it does with any other error a processor throws for an event.
 */
export class TransientError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** Thrown by a processor's plan when its inputs cannot be wired as configured. */
export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

export interface ProcessorTask {
  /**
   * Transforms a batch; may drop, change or add events. `input` names the input the events come from, as
   * `plan` saw it (`ProcessorInput.name`): a processor with several inputs (union, join) tells them apart by it.
   */
  process(
    events: readonly ChangeEvent[],
    input: string,
  ): readonly ChangeEvent[] | Promise<readonly ChangeEvent[]>;
  close?(): Promise<void>;
}

/** Where a consumed event sits in the transport; sinks use it to order and de-duplicate writes. */
export interface TransportPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface SinkRecord {
  readonly event: ChangeEvent;
  /** Where this delivery of the event was read (for a replayed dead letter: the replay topic). */
  readonly position: TransportPosition;
  /**
   * The topic the event belongs to: where it was first read, also when it comes back as a replayed dead letter.
   * Name destinations (an index per topic) from this, not from `position.topic`.
   */
  readonly topic: string;
  /**
   * The schemas the event conforms to: its writer's, or the declared output of the processors fused before the
   * sink. The same object for the same schemas, so a sink can cache what it derives from them (an index
   * mapping) by identity, and notice an evolved schema by a new object.
   */
  readonly schema: StreamSchemas;
}

/**
 * An event a sink cannot write and never will as it is (a document the index mapping rejects). The runtime
 * sends it to the pipeline's dead-letter topic, with the error, before the input offsets are committed, and
 * the pipeline goes on. Failures that may pass (a timeout, an engine down) are retried or thrown instead.
 */
export interface SinkRejection {
  readonly record: SinkRecord;
  readonly error: Error;
}

/** The input offsets a consumer task commits: its consumer group and the next offset per partition. */
export interface InputOffsets {
  readonly group: string;
  readonly offsets: readonly TopicPartitionOffset[];
}

export interface SinkTask {
  /** Accepts a batch; need not be durable until `flush`. Answers the records it rejects, if any. */
  write(records: readonly SinkRecord[]): Promise<void | readonly SinkRejection[]>;
  /**
   * Makes everything written durable. Input offsets are committed only after it resolves. Answers the records
   * it rejects, if any (e.g. per-item failures of a bulk request).
   */
  flush(): Promise<void | readonly SinkRejection[]>;
  /**
   * Optional: makes everything written durable together with the input offsets, atomically (a Kafka
   * transaction on the transport's cluster: consume–transform–produce exactly once). When present the runtime
   * calls it instead of `flush` followed by its own offset commit. Rejections belong in `write`.
   */
  flushWithOffsets?(input: InputOffsets): Promise<void>;
  /**
   * True when `write` may be called while a `flush` runs, and a flush makes durable (at least) everything
   * written before it was called. The runtime then flushes in the background and goes on consuming, instead of
   * stopping at every flush: a sink whose flush waits on a remote system keeps it busy.
   */
  readonly concurrentFlush?: boolean;
  close?(): Promise<void>;
}

interface PluginBase<K extends PluginKind, S extends TSchema> {
  readonly $$type: typeof PLUGIN_BRAND;
  readonly apiVersion: string;
  readonly kind: K;
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly config: S;
}

/** A snapshot asked for while a source runs (`mesh source snapshot`). */
export interface SnapshotRequest {
  /** Streams to read again; all of the source's when absent or empty. */
  readonly streams?: readonly string[];
  /** Only these keys (each the key columns' values as text, in key order); needs exactly one stream. */
  readonly keys?: readonly (readonly string[])[];
}

export interface SourcePlugin<S extends TSchema = TSchema> extends PluginBase<'source', S> {
  streams(config: Static<S>): readonly StreamDeclaration[] | Promise<readonly StreamDeclaration[]>;
  create(config: Static<S>, ctx: PluginContext): SourceTask | Promise<SourceTask>;
  /**
   * Optional: asks the running source (wherever it runs) for a snapshot, through the source system itself (a
   * signal table), so the request is ordered with the changes and survives restarts. Answers the request's id.
   */
  requestSnapshot?(config: Static<S>, request: SnapshotRequest): Promise<{ readonly id: string }>;
}

export interface ProcessorPlugin<S extends TSchema = TSchema> extends PluginBase<'processor', S> {
  /** Stateful processors (joins) are never fused and get a changelog-backed state store. */
  readonly stateful: boolean;
  plan(inputs: readonly ProcessorInput[], config: Static<S>): ProcessorPlan;
  create(config: Static<S>, ctx: PluginContext): ProcessorTask | Promise<ProcessorTask>;
  /**
   * Optional: runs the stage as a chain of parts joined by internal topics instead of as one processor, so that
   * state which spans input partitions can be split by partition after all (a join repartitions its left input by
   * the join key). Answers undefined to run as one processor. The last part writes the stage's output, with the
   * schemas `plan` gives; the runtime runs each part as a task of its own. Needs contract 1.2.
   */
  expand?(inputs: readonly ProcessorInput[], config: Static<S>): readonly ProcessorPart[] | undefined;
}

/** One part of a processor that runs as several (`ProcessorPlugin.expand`). */
export interface ProcessorPart {
  /** Kebab-case, unique in the stage: the part runs as stage `<stage>.<name>`, with the internal topic it writes. */
  readonly name: string;
  /** Its processor, with `perPartition` in its plan when it is stateful. Need not be installed: it is the stage's. */
  readonly plugin: ProcessorPlugin;
  readonly config: unknown;
  /** Its inputs: an index into the stage's own inputs, or the name of an earlier part. */
  readonly inputs: readonly (number | string)[];
  /**
   * Create the part's topic with as many partitions as this input of the stage has (an index), so its keys
   * land in the same partition numbers as that input's equal keys (a repartition by a key of that input).
   */
  readonly partitionsLike?: number;
}

/** A topic a sink writes for others to consume (sink-kafka's output), catalogued with the pipeline's owner. */
export interface SinkOutput {
  readonly topic: string;
  readonly description?: string;
  /** Avro in the Confluent wire format (schemas under `<topic>-key` / `<topic>-value`) or JSON. */
  readonly format: 'avro' | 'json';
}

export interface SinkPlugin<S extends TSchema = TSchema> extends PluginBase<'sink', S> {
  create(config: Static<S>, ctx: PluginContext): SinkTask | Promise<SinkTask>;
  /** Optional: the topics the sink writes that belong in the catalog (a sink into Kafka has one). */
  outputs?(config: Static<S>): readonly SinkOutput[];
  /**
   * Optional: true when a task of this sink, with this config on a node with this transport, must run on one node
   * at a time (it writes under one transactional id). The runtime then gives its input partitions to one node and
   * has the others stand by; otherwise the nodes split them.
   */
  exclusive?(config: Static<S>, transport: Pick<Transport, 'kind' | 'transactionalProducer'>): boolean;
}

export type Plugin = SourcePlugin | ProcessorPlugin | SinkPlugin;

type Definition<P extends { kind: PluginKind }> = Omit<
  P,
  '$$type' | 'apiVersion' | 'kind' | 'description'
> & {
  readonly description?: string;
};

const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function brand<K extends PluginKind, D extends { name: string; version: string; description?: string }>(
  kind: K,
  definition: D,
) {
  if (!NAME_PATTERN.test(definition.name)) {
    throw new Error(`plugin name "${definition.name}" must be kebab-case (e.g. "postgres", "sink-file")`);
  }
  return Object.freeze({
    ...definition,
    description: definition.description ?? '',
    $$type: PLUGIN_BRAND,
    apiVersion: CONTRACT_VERSION,
    kind,
  });
}

export function defineSource<S extends TSchema>(definition: Definition<SourcePlugin<S>>): SourcePlugin<S> {
  return brand('source', definition) as SourcePlugin<S>;
}

export function defineProcessor<S extends TSchema>(
  definition: Omit<Definition<ProcessorPlugin<S>>, 'stateful'> & { readonly stateful?: boolean },
): ProcessorPlugin<S> {
  return brand('processor', { ...definition, stateful: definition.stateful ?? false }) as ProcessorPlugin<S>;
}

export function defineSink<S extends TSchema>(definition: Definition<SinkPlugin<S>>): SinkPlugin<S> {
  return brand('sink', definition) as SinkPlugin<S>;
}

/** True for any value made by define*, from any copy of core (checks the brand, not the class). */
export function isPlugin(value: unknown): value is Plugin {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $$type?: unknown }).$$type === PLUGIN_BRAND &&
    typeof (value as { apiVersion?: unknown }).apiVersion === 'string'
  );
}
