import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { defineSink, defineSource, type Plugin, type SinkRecord } from '../../contract/plugin.js';
import type { Position } from '../../contract/context.js';
import { envelopeSchemas } from '../../schema/envelope-schema.js';
import { createLogger } from '../../logging/logger.js';
import { PluginRegistry } from '../../registry/plugin-registry.js';
import { planPipeline } from '../../pipeline/planner.js';
import { SourceDocument } from '../../pipeline/source-document.js';
import type { Transport } from '../../transport/transport.js';
import { EmbeddedTransport } from '../../transport/embedded/index.js';
import { MeshNode } from '../mesh-node.js';
import { NodeConfigSchema, type NodeConfig } from '../node-config.js';

export const counterSchemas = envelopeSchemas({
  name: 'test.counters',
  keyFields: ['id'],
  fields: [
    { name: 'id', type: 'long' },
    { name: 'n', type: 'long' },
  ],
});

/** Emits change n = 1..total for key n % 7, `perRead` at a time, waiting `pauseMs` before each read. */
export function countingSource(hooks: { onAcknowledge?: (position: Position) => void } = {}) {
  return defineSource({
    name: 'counting',
    version: '1.0.0',
    config: Type.Object({
      total: Type.Integer(),
      perRead: Type.Integer({ default: 10 }),
      pauseMs: Type.Integer({ default: 0 }),
    }),
    streams: () => [{ name: 'counters', ...counterSchemas }],
    create(config) {
      let next = 1;
      return {
        async start(from: Position | undefined) {
          next = ((from?.['n'] as number | undefined) ?? 0) + 1;
        },
        async read() {
          await new Promise((r) => setTimeout(r, next > config.total ? 20 : config.pauseMs));
          if (next > config.total) return undefined;
          const events = [];
          const last = Math.min(config.total, next + config.perRead - 1);
          for (; next <= last; next++) {
            const source = { connector: 'counting', name: 'c', ts_ms: Date.now(), snapshot: 'false' };
            const after = { id: next % 7, n: next };
            events.push({
              stream: 'counters',
              event: {
                key: { id: next % 7 },
                value: { before: null, after, op: 'c' as const, ts_ms: Date.now(), source },
              },
            });
          }
          return { events, position: { n: last } };
        },
        async acknowledge(position: Position) {
          hooks.onAcknowledge?.(position);
        },
        async stop() {},
      };
    },
  });
}

export function values(records: readonly SinkRecord[]): number[] {
  return records.map((r) => r.event.value?.after?.['n'] as number);
}

export interface TestNodeOptions {
  readonly dir: string;
  readonly plugins: readonly Plugin[];
  readonly pipeline: Record<string, unknown>;
  readonly partitions?: number;
  readonly port?: number;
  readonly stopTimeoutMs?: number;
  /** How long a sink may hold unflushed events (default 50 ms). */
  readonly flushIntervalMs?: number;
  /** Wraps the node's transport, e.g. to observe its calls. */
  readonly wrap?: (transport: Transport) => Transport;
  /** A transport shared with other nodes of the test (they stop without closing it); default: its own log. */
  readonly shared?: Transport;
}

export async function startTestNode(options: TestNodeOptions): Promise<MeshNode> {
  const registry = new PluginRegistry();
  for (const plugin of options.plugins) {
    registry.add({ plugin, packageName: plugin.name, packageVersion: '1.0.0', packageDir: options.dir });
  }
  const plan = await planPipeline(
    SourceDocument.fromValue({ apiVersion: 'datamesh/v1', kind: 'Pipeline', ...options.pipeline }),
    registry,
  );
  const config = Value.Default(NodeConfigSchema, {
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir: options.dir,
    http: { port: options.port ?? 0 },
    transport: { partitions: options.partitions ?? 4 },
    tasks: {
      flushIntervalMs: options.flushIntervalMs ?? 50,
      ...(options.stopTimeoutMs ? { stopTimeoutMs: options.stopTimeoutMs } : {}),
    },
  }) as NodeConfig;
  const transport = options.shared
    ? Object.assign(Object.create(options.shared) as Transport, { close: async () => undefined })
    : await EmbeddedTransport.open({ dir: join(options.dir, 'log') });
  return MeshNode.start({
    config,
    plans: [plan],
    transport: options.wrap ? options.wrap(transport) : transport,
    logger: createLogger({ level: 'silent' }),
  });
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function metricValue(
  node: MeshNode,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = node.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values: samples } = await metric.get();
  return samples
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** A sink that keeps what it flushed, so a test sees exactly what became durable. */
export function collectingSink(options: { failFirstWrite?: boolean; failClose?: boolean } = {}) {
  const flushed: SinkRecord[] = [];
  let writes = 0;
  const plugin = defineSink({
    name: 'collect',
    version: '1.0.0',
    config: Type.Object({}),
    create() {
      let pending: SinkRecord[] = [];
      return {
        async write(records) {
          if (options.failFirstWrite && writes++ === 0) throw new Error('disk full (first write only)');
          pending.push(...records);
        },
        async flush() {
          flushed.push(...pending);
          pending = [];
        },
        async close() {
          if (options.failClose) throw new Error('close failed too');
        },
      };
    },
  });
  return { plugin, flushed };
}
