import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  defineProcessor,
  defineSink,
  defineSource,
  TransientError,
  type Plugin,
  type SinkRecord,
  type SinkRejection,
  type SourceTask,
} from '../../contract/plugin.js';
import type { ChangeEvent } from '../../contract/envelope.js';
import { createLogger } from '../../logging/logger.js';
import { planPipeline } from '../../pipeline/planner.js';
import { SourceDocument } from '../../pipeline/source-document.js';
import { PluginRegistry } from '../../registry/plugin-registry.js';
import { EmbeddedTransport } from '../../transport/embedded/index.js';
import { readToEnd } from '../../transport/read-to-end.js';
import type { ConsumedRecord, Transport } from '../../transport/transport.js';
import { MeshNode } from '../mesh-node.js';
import { NodeConfigSchema, type NodeConfig } from '../node-config.js';
import { counterSchemas, countingSource } from './test-node.js';

/** The counter of an event (`after.n`, or the key's id for a tombstone). */
export function counterOf(event: ChangeEvent): number {
  return (event.value?.after?.['n'] as number | undefined) ?? -1;
}

/**
 * `countingSource` whose events carry a `trace` header (`n-<n>`), so a test sees a record's own headers kept
 * in its dead letter; with `tombstoneAt`, the change with that number is followed by a tombstone of its key.
 */
export function tracedSource(options: { tombstoneAt?: number } = {}) {
  const inner = countingSource();
  return defineSource({
    ...inner,
    create(config, ctx) {
      const task = inner.create(config, ctx) as SourceTask;
      return {
        ...task,
        async read(signal) {
          const batch = await task.read(signal);
          if (!batch) return batch;
          const events = batch.events.flatMap((e) => {
            const n = counterOf(e.event);
            const traced = { ...e, event: { ...e.event, headers: { trace: `n-${n}` } } };
            return n === options.tombstoneAt
              ? [traced, { ...e, event: { key: e.event.key, value: null, headers: { trace: 'tombstone' } } }]
              : [traced];
          });
          return { ...batch, events };
        },
      };
    },
  });
}

/** A source that declares the counters stream and never emits: a pipeline that only consumes its topic. */
export const idleSource = defineSource({
  name: 'idle',
  version: '1.0.0',
  config: Type.Object({}),
  streams: () => [{ name: 'counters', ...counterSchemas }],
  create: () => ({
    start: async () => {},
    read: async () => {
      await new Promise((r) => setTimeout(r, 20));
      return undefined;
    },
    acknowledge: async () => {},
    stop: async () => {},
  }),
});

/** `TransientError` as another copy of `@datamesh/core` defines it. */
class CopiedTransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientError';
  }
}

/** What a test flips while a node runs: the plugins read it on every event. */
export interface Switches {
  /** Counters the `validate` processor refuses (a plain Error: the event is dead-lettered). */
  invalid: (n: number) => boolean;
  /** Whether `validate` refuses tombstones. */
  refuseTombstones: boolean;
  /** Counters `validate` fails on with a TransientError, each as many times as the number given. */
  transient: Map<number, number>;
  /** Events `validate` saw, in the order it saw them. */
  seen: number[];
}

export function switches(init: Partial<Switches> = {}): Switches {
  return { invalid: () => false, refuseTombstones: false, transient: new Map(), seen: [], ...init };
}

/** A pass-through processor that fails on the events its switches name. */
export function validateProcessor(state: Switches) {
  return defineProcessor({
    name: 'validate',
    version: '1.0.0',
    config: Type.Object({}),
    plan: (inputs) => ({ keySchema: inputs[0]!.keySchema, valueSchema: inputs[0]!.valueSchema, lineage: [] }),
    create: () => ({
      process(events) {
        for (const event of events) {
          if (event.value === null) {
            if (state.refuseTombstones)
              throw new Error(`tombstone of key ${String(event.key?.['id'])} refused`);
            continue;
          }
          const n = counterOf(event);
          state.seen.push(n);
          const left = state.transient.get(n) ?? 0;
          if (left > 0) {
            state.transient.set(n, left - 1);
            // Every other one as a plugin built against another copy of core throws it: same name, other class.
            throw left % 2 === 0
              ? new TransientError(`lookup for ${n} timed out`)
              : new CopiedTransientError(`lookup for ${n} timed out again`);
          }
          if (state.invalid(n)) throw new Error(`amount ${n} is not valid`);
        }
        return events;
      },
    }),
  });
}

/**
 * A sink like `collectingSink` (keeps what it flushed) that refuses some records: those `inWrite` names when
 * they are written, those `inFlush` names when they are flushed (as a bulk request's per-item failures).
 */
export function rejectingSink(options: {
  name?: string;
  inWrite?: (n: number) => boolean;
  inFlush?: (n: number) => boolean;
}) {
  const flushed: SinkRecord[] = [];
  const plugin = defineSink({
    name: options.name ?? 'reject',
    version: '1.0.0',
    config: Type.Object({}),
    create() {
      let pending: SinkRecord[] = [];
      return {
        async write(records) {
          const rejections: SinkRejection[] = [];
          for (const record of records) {
            if (options.inWrite?.(counterOf(record.event)))
              rejections.push({ record, error: new Error(`mapping refused ${counterOf(record.event)}`) });
            else pending.push(record);
          }
          return rejections;
        },
        async flush() {
          const rejections: SinkRejection[] = [];
          for (const record of pending) {
            if (options.inFlush?.(counterOf(record.event)))
              rejections.push({ record, error: new Error(`bulk item ${counterOf(record.event)} failed`) });
            else flushed.push(record);
          }
          pending = [];
          return rejections;
        },
      };
    },
  });
  return { plugin, flushed };
}

export interface RunningNode {
  readonly node: MeshNode;
  /** The node's transport, open until the node stops. */
  readonly transport: Transport;
}

/** A node on the embedded transport in `dir` running several pipelines (`startTestNode` runs one). */
export async function startNode(options: {
  dir: string;
  plugins: readonly Plugin[];
  pipelines: readonly Record<string, unknown>[];
  /** Receives the node's log lines (JSON); the log is silent without it. */
  onLog?: (line: Record<string, unknown>) => void;
}): Promise<RunningNode> {
  const registry = new PluginRegistry();
  for (const plugin of options.plugins) {
    registry.add({ plugin, packageName: plugin.name, packageVersion: '1.0.0', packageDir: options.dir });
  }
  const plans = [];
  for (const pipeline of options.pipelines) {
    plans.push(
      await planPipeline(
        SourceDocument.fromValue({ apiVersion: 'datamesh/v1', kind: 'Pipeline', ...pipeline }),
        registry,
      ),
    );
  }
  const config = Value.Default(NodeConfigSchema, {
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir: options.dir,
    http: { port: 0 },
    transport: { partitions: 4 },
    tasks: { flushIntervalMs: 50 },
  }) as NodeConfig;
  const transport = await EmbeddedTransport.open({ dir: join(options.dir, 'log') });
  const node = await MeshNode.start({
    config,
    plans,
    transport,
    logger: options.onLog
      ? createLogger({
          level: 'warn',
          destination: {
            write: (line: string) => options.onLog!(JSON.parse(line) as Record<string, unknown>),
          },
        })
      : createLogger({ level: 'silent' }),
  });
  return { node, transport };
}

/** Every record of a topic, in partition and offset order. */
export async function readTopic(transport: Transport, topic: string): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  for await (const batch of readToEnd(transport, topic, { idleMs: 200 })) records.push(...batch);
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Reads a topic of the embedded log in `dir` after its node stopped. */
export async function readStoppedTopic(dir: string, topic: string): Promise<ConsumedRecord[]> {
  const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), readOnly: true });
  try {
    return await readTopic(transport, topic);
  } finally {
    await transport.close();
  }
}
