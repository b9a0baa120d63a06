import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Errors, Flags } from '@oclif/core';
import {
  createLogger,
  DEAD_LETTER_HEADER,
  deadLetterTopic,
  EventCodec,
  ExternalSchemaRegistry,
  LocalSchemaRegistry,
  loadNodeConfig,
  withoutDeadLetterHeaders,
  type ConsumedRecord,
  type Consumer,
  type NodeConfig,
  type RegisteredSchema,
  type SchemaAccess,
  type TopicPartitionOffset,
  type Transport,
} from '@datamesh/core';
import { EXIT } from './base-command.js';
import { openEmbeddedLog } from './embedded-log.js';
import { openTransport } from './transport-factory.js';

/** The `--config` flag of the `mesh dlq` commands: the node config `mesh node start` runs with. */
export const nodeConfigFlag = Flags.string({
  char: 'c',
  required: true,
  description:
    'The node config file (YAML or JSON) the node runs with: its transport (the embedded log in dataDir, or Kafka) ' +
    'and schema registry are where the dead letters are.',
});

/** A node's transport, opened from its config file by a command that is not the node. */
export interface NodeTransport {
  readonly config: NodeConfig;
  readonly configFile: string;
  readonly transport: Transport;
  /** Where the transport is, for messages: "the embedded log in <dir>" or "Kafka at <brokers>". */
  readonly where: string;
  close(): Promise<void>;
}

/**
 * Opens the transport a node config names. The embedded log is opened read-only unless `write` (a running node
 * holds it: writing needs the node stopped, `DirLockedError` otherwise); it must exist, never created here.
 */
export async function openNodeTransport(
  configFile: string,
  options: { write: boolean },
): Promise<NodeTransport> {
  // `${NAME}` in the node config reads the environment, as `mesh node start` does.
  const { config } = await loadNodeConfig(configFile, { env: process.env });
  if (config.transport.kind === 'embedded') {
    const log = join(config.dataDir, 'log');
    if (!(await stat(log).catch(() => undefined))?.isDirectory()) {
      throw new Errors.CLIError(
        `the data dir ${config.dataDir} (dataDir in ${configFile}) has no embedded log: the node has not run there ` +
          `yet, or it runs with another config; pass that one with --config`,
        { exit: EXIT.invalid },
      );
    }
    const transport = await openEmbeddedLog(config.dataDir, {
      readOnly: !options.write,
      fsync: config.transport.fsync,
    });
    return {
      config,
      configFile,
      transport,
      where: `the embedded log in ${config.dataDir}`,
      close: () => transport.close(),
    };
  }
  // Kafka's own log lines (retries, a broker going away) go to stderr: stdout is the command's output.
  const logger = createLogger({
    level: 'warn',
    destination: { write: (line: string) => process.stderr.write(line) },
  });
  const transport = await openTransport(config, logger);
  return {
    config,
    configFile,
    transport,
    where: `Kafka at ${config.transport.kafka?.brokers.join(',') ?? '?'}`,
    close: () => transport.close(),
  };
}

/** The consumer group that remembers how far `mesh dlq replay` got in a pipeline's dead letters. */
export function replayProgressGroup(pipeline: string): string {
  return `datamesh.dlq-replay.${pipeline}`;
}

/** The pipeline names that have a dead-letter topic on the transport. */
function pipelinesWithDeadLetters(topics: readonly string[]): string[] {
  const prefix = deadLetterTopic('');
  return topics
    .filter((t) => t.startsWith(prefix) && !t.endsWith('.replay'))
    .map((t) => t.slice(prefix.length))
    .sort();
}

/**
 * The end offsets of a pipeline's dead-letter topic; an error that says which pipelines have one when it has
 * none (a node creates it when it starts the pipeline's consumer tasks).
 */
export async function deadLetterEnds(node: NodeTransport, pipeline: string): Promise<readonly number[]> {
  const topic = deadLetterTopic(pipeline);
  const described = await node.transport.describeTopic(topic);
  if (described) return described.endOffsets;
  const topics = await node.transport.listTopics();
  const pipelines = pipelinesWithDeadLetters(topics);
  const others = topics.filter((t) => !t.startsWith('__') && !t.startsWith(deadLetterTopic(''))).sort();
  throw new Errors.CLIError(
    `no dead-letter topic ${topic} on ${node.where}: pipeline "${pipeline}" has not run there (a node creates the ` +
      'topic when it starts the pipeline). ' +
      (pipelines.length > 0
        ? `Pipelines with dead-letter topics: ${pipelines.join(', ')}.`
        : `No pipeline has one yet; topics there: ${others.join(', ') || 'none'}.`),
    { exit: EXIT.invalid },
  );
}

/** A dead letter as the `mesh dlq` commands show it: where and why it failed, without its event. */
export interface DeadLetter {
  /** Where it is in the dead-letter topic (what `mesh dlq replay --offset` takes). */
  readonly partition: number;
  readonly offset: number;
  /** When it failed. */
  readonly time: string | null;
  readonly stage: string;
  readonly plugin: string;
  readonly kind: string;
  /** The consumer task that failed on it, the one a replay goes back to. */
  readonly task: string;
  readonly error: string;
  readonly errorName: string;
  /** Where the event was read the first time. */
  readonly origin: {
    readonly topic: string;
    readonly partition: number | null;
    readonly offset: number | null;
  };
  /** How many times it was replayed before this failure. */
  readonly replays: number;
  /** The event's own headers. */
  readonly headers: Readonly<Record<string, string>>;
}

export function deadLetterOf(record: ConsumedRecord): DeadLetter {
  const h = record.headers;
  const number = (text: string | undefined) => (text === undefined || text === '' ? null : Number(text));
  return {
    partition: record.partition,
    offset: record.offset,
    time: h[DEAD_LETTER_HEADER.time] ?? null,
    stage: h[DEAD_LETTER_HEADER.stage] ?? '',
    plugin: h[DEAD_LETTER_HEADER.plugin] ?? '',
    kind: h[DEAD_LETTER_HEADER.kind] ?? '',
    task: h[DEAD_LETTER_HEADER.task] ?? '',
    error: h[DEAD_LETTER_HEADER.error] ?? '',
    errorName: h[DEAD_LETTER_HEADER.errorName] ?? '',
    origin: {
      topic: h[DEAD_LETTER_HEADER.topic] ?? '',
      partition: number(h[DEAD_LETTER_HEADER.partition]),
      offset: number(h[DEAD_LETTER_HEADER.offset]),
    },
    replays: number(h[DEAD_LETTER_HEADER.replays]) ?? 0,
    headers: withoutDeadLetterHeaders(h),
  };
}

/** A dead letter's key and value decoded with the schema registry, or their bytes and why they could not be. */
export type DecodedEvent =
  | { readonly key: unknown; readonly value: unknown }
  | { readonly keyBase64: string | null; readonly valueBase64: string | null; readonly decodeError: string };

export async function decodeEvent(codec: EventCodec, record: ConsumedRecord): Promise<DecodedEvent> {
  try {
    const { key, value } = await codec.decode(record);
    return { key, value };
  } catch (error) {
    return {
      keyBase64: record.key?.toString('base64') ?? null,
      valueBase64: record.value?.toString('base64') ?? null,
      decodeError: (error as Error).message,
    };
  }
}

/**
 * The registry the node uses, to decode dead letters: the external one its config names, or its own (the file
 * beside the embedded log, or the schemas topic on Kafka), read again when a record names an id it did not
 * know yet (the node registered it after this command started).
 */
export function openSchemas(node: NodeTransport): { codec: EventCodec; close(): Promise<void> } {
  const { schemaRegistry } = node.config;
  if (schemaRegistry.url) {
    const external = new ExternalSchemaRegistry({
      url: schemaRegistry.url,
      basicAuth: schemaRegistry.basicAuth,
      timeoutMs: schemaRegistry.timeoutMs,
      hint: `Check schemaRegistry.url (and schemaRegistry.basicAuth) in ${node.configFile}, and that the registry runs.`,
    });
    return { codec: new EventCodec(external), close: async () => {} };
  }
  const own = new RereadSchemas(() =>
    node.config.transport.kind === 'embedded'
      ? LocalSchemaRegistry.open(join(node.config.dataDir, 'schemas.json'))
      : LocalSchemaRegistry.onTransport(node.transport),
  );
  return { codec: new EventCodec(own), close: () => own.close() };
}

/** A node's own registry, read-only, opened again (once per id) for a schema id it does not know yet. */
class RereadSchemas implements SchemaAccess {
  private readonly open: () => Promise<LocalSchemaRegistry>;
  private current: Promise<LocalSchemaRegistry>;
  private readonly reread = new Set<number>();

  constructor(open: () => Promise<LocalSchemaRegistry>) {
    this.open = open;
    this.current = open();
  }

  register(): Promise<RegisteredSchema> {
    return Promise.reject(new Error('mesh dlq registers no schemas'));
  }

  async latest(subject: string): Promise<RegisteredSchema | undefined> {
    return (await this.current).latest(subject);
  }

  async byId(id: number): Promise<RegisteredSchema | undefined> {
    const found = await (await this.current).byId(id);
    if (found || this.reread.has(id)) return found;
    this.reread.add(id);
    const previous = await this.current;
    this.current = this.open();
    await previous.close();
    return (await this.current).byId(id);
  }

  async close(): Promise<void> {
    await (await this.current).close();
  }
}

/** How long a read to the end may go without progress before it is an error rather than a partial read. */
const STALL_MS = 60_000;

/**
 * Reads a topic with `consumer` from where its group stands (`start`: its committed offsets) to the end offsets
 * `ends` the topic had when reading began, batch by batch; without `ends`, follows it until `signal` aborts.
 * Records appended after `ends` are left for the next read.
 */
export async function* readUntil(
  consumer: Consumer,
  topic: string,
  options: {
    readonly ends?: readonly number[];
    readonly start?: readonly TopicPartitionOffset[];
    readonly signal?: AbortSignal;
    readonly batchSize?: number;
  },
): AsyncGenerator<ConsumedRecord[]> {
  const { ends, signal } = options;
  const maxRecords = options.batchSize ?? 500;
  if (!ends) {
    while (!signal?.aborted) {
      const records = await consumer.poll({ maxRecords, maxWaitMs: 500, ...(signal ? { signal } : {}) });
      if (records.length > 0) yield records;
    }
    return;
  }
  const unfinished = new Set<number>();
  ends.forEach((end, partition) => {
    const from = options.start?.find((s) => s.topic === topic && s.partition === partition)?.offset ?? 0;
    if (end > from) unfinished.add(partition);
  });
  let lastProgress = Date.now();
  while (unfinished.size > 0 && !signal?.aborted) {
    const polled = await consumer.poll({
      maxRecords,
      // A consumer that can tell where it is (Kafka) is asked again soon rather than waited on.
      maxWaitMs: consumer.readUpTo ? 200 : 500,
      ...(signal ? { signal } : {}),
    });
    const records = polled.filter((r) => r.topic === topic && r.offset < (ends[r.partition] ?? 0));
    for (const r of records) if (r.offset >= (ends[r.partition] ?? 0) - 1) unfinished.delete(r.partition);
    if (records.length > 0) {
      lastProgress = Date.now();
      yield records;
    }
    if (!consumer.readUpTo) {
      // The embedded log: nothing more within the wait means the rest is gone (retention).
      if (polled.length === 0) return;
      continue;
    }
    if (consumer.readUpTo(topic, ends)) return;
    if (Date.now() - lastProgress > STALL_MS) {
      throw new Error(
        `reading ${topic} stalled: no progress for ${STALL_MS / 1000} s with partitions ${[...unfinished].join(', ')} unfinished`,
      );
    }
  }
}

/**
 * Whether `--stage` selects a dead letter of `stage`: named, or a part of a named stage that runs as parts (a
 * partitioned join records its dead letters under `<stage>.<part>`).
 */
export function stageSelected(stages: readonly string[], stage: string): boolean {
  return stages.some((s) => stage === s || stage.startsWith(`${s}.`));
}

/** `n dead letters (stage: n, …)` */
export function countsByStage(total: number, byStage: ReadonlyMap<string, number>): string {
  const parts = [...byStage.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([stage, n]) => `${stage || '(no stage)'}: ${n}`);
  return `${total} dead letter${total === 1 ? '' : 's'}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}
