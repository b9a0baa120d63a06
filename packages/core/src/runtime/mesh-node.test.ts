import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { defineProcessor, defineSink, defineSource, type SinkRecord } from '../contract/plugin.js';
import type { Position } from '../contract/context.js';
import { envelopeSchemas } from '../schema/envelope-schema.js';
import { createLogger } from '../logging/logger.js';
import { PluginRegistry } from '../registry/plugin-registry.js';
import { planPipeline } from '../pipeline/planner.js';
import { SourceDocument } from '../pipeline/source-document.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import { MeshNode } from './mesh-node.js';
import { NodeConfigSchema, type NodeConfig } from './node-config.js';

const counters = envelopeSchemas({
  name: 'test.counters',
  keyFields: ['id'],
  fields: [
    { name: 'id', type: 'long' },
    { name: 'n', type: 'long' },
  ],
});

/** Emits change n = 1..total for key n % 7, in batches of 10; its position is the last n. */
const countingSource = defineSource({
  name: 'counting',
  version: '1.0.0',
  config: Type.Object({ total: Type.Integer() }),
  streams: () => [{ name: 'counters', ...counters }],
  create(config) {
    let next = 1;
    return {
      async start(from: Position | undefined) {
        next = ((from?.['n'] as number | undefined) ?? 0) + 1;
      },
      async read(signal) {
        if (next > config.total) {
          await new Promise((r) => setTimeout(r, 20));
          return signal.aborted ? undefined : undefined;
        }
        const events = [];
        const last = Math.min(config.total, next + 9);
        for (; next <= last; next++) {
          events.push({
            stream: 'counters',
            event: {
              key: { id: next % 7 },
              value: {
                before: null,
                after: { id: next % 7, n: next },
                op: 'c' as const,
                ts_ms: Date.now(),
                source: { connector: 'counting', name: 'c', ts_ms: Date.now(), snapshot: 'false' },
              },
            },
          });
        }
        return { events, position: { n: last } };
      },
      async acknowledge() {},
      async stop() {},
    };
  },
});

const double = defineProcessor({
  name: 'double',
  version: '1.0.0',
  config: Type.Object({}),
  plan: (inputs) => ({ keySchema: inputs[0]!.keySchema, valueSchema: inputs[0]!.valueSchema, lineage: [] }),
  create: () => ({
    process: (events) =>
      events.map((e) =>
        e.value?.after
          ? {
              ...e,
              value: { ...e.value, after: { ...e.value.after, n: (e.value.after['n'] as number) * 2 } },
            }
          : e,
      ),
  }),
});

/** Keeps flushed records in a shared array, so the test sees exactly what became durable. */
const flushed: SinkRecord[] = [];
const memorySink = defineSink({
  name: 'memory',
  version: '1.0.0',
  config: Type.Object({}),
  create() {
    let pending: SinkRecord[] = [];
    return {
      async write(records) {
        pending.push(...records);
      },
      async flush() {
        flushed.push(...pending);
        pending = [];
      },
    };
  },
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-node-'));
  flushed.length = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function startNode(total: number) {
  const registry = new PluginRegistry();
  for (const plugin of [countingSource, double, memorySink])
    registry.add({ plugin, packageName: plugin.name, packageVersion: '1.0.0', packageDir: dir });
  const plan = await planPipeline(
    SourceDocument.fromValue({
      apiVersion: 'datamesh/v1',
      kind: 'Pipeline',
      name: 'counts',
      sources: [{ name: 'src', plugin: 'counting', config: { total } }],
      processors: [{ name: 'twice', plugin: 'double', inputs: ['src'] }],
      sinks: [{ name: 'mem', plugin: 'memory', inputs: ['twice'] }],
    }),
    registry,
  );
  const config: NodeConfig = Value.Default(NodeConfigSchema, {
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir: dir,
    http: { port: 0 },
    tasks: { flushIntervalMs: 50 },
  }) as NodeConfig;
  const transport = await EmbeddedTransport.open({ dir: join(dir, 'log') });
  return MeshNode.start({ config, plans: [plan], transport, logger: createLogger({ level: 'silent' }) });
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const values = () => flushed.map((r) => r.event.value?.after?.['n'] as number);

describe('MeshNode', () => {
  it('moves every event from source through the fused processor into the sink, in order per key', async () => {
    const node = await startNode(500);
    await until(() => flushed.length >= 500);
    await node.stop();
    expect(values().sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => (i + 1) * 2));
    for (let key = 0; key < 7; key++) {
      const ofKey = flushed
        .filter((r) => r.event.key?.['id'] === key)
        .map((r) => r.event.value?.after?.['n'] as number);
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
  });

  it('serves metrics labelled by pipeline, stage and plugin, and health', async () => {
    const node = await startNode(100);
    await until(() => flushed.length >= 100);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(
      /datamesh_events_out_total\{pipeline="counts",stage="src",plugin="counting",kind="source"\} 100/,
    );
    expect(metrics).toMatch(
      /datamesh_events_in_total\{pipeline="counts",stage="twice",plugin="double",kind="processor"\} 100/,
    );
    expect(metrics).toMatch(
      /datamesh_events_out_total\{pipeline="counts",stage="mem",plugin="memory",kind="sink"\} 100/,
    );
    const health = (await (await fetch(`${node.url}/health`)).json()) as {
      status: string;
      tasks: { id: string; state: string }[];
    };
    expect(health.status).toBe('ok');
    expect(health.tasks.map((t) => t.id).sort()).toEqual(['counts.mem', 'counts.src']);
    await node.stop();
  });

  it('resumes after a stop from the committed positions: nothing lost, nothing repeated', async () => {
    const first = await startNode(300);
    await until(() => flushed.length >= 300);
    await first.stop();
    const second = await startNode(600);
    await until(() => flushed.length >= 600);
    await new Promise((r) => setTimeout(r, 200));
    await second.stop();
    expect(values().sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => (i + 1) * 2));
  });

  it('is not starved by a source that answers "nothing" at once', async () => {
    const eager = defineSource({
      name: 'eager-idle',
      version: '1.0.0',
      config: Type.Object({}),
      streams: () => [{ name: 'counters', ...counters }],
      create: () => ({
        start: async () => {},
        read: async () => undefined,
        acknowledge: async () => {},
        stop: async () => {},
      }),
    });
    const registry = new PluginRegistry();
    for (const plugin of [eager, memorySink])
      registry.add({ plugin, packageName: plugin.name, packageVersion: '1.0.0', packageDir: dir });
    const plan = await planPipeline(
      SourceDocument.fromValue({
        apiVersion: 'datamesh/v1',
        kind: 'Pipeline',
        name: 'idle',
        sources: [{ name: 'src', plugin: 'eager-idle' }],
        sinks: [{ name: 'mem', plugin: 'memory', inputs: ['src'] }],
      }),
      registry,
    );
    const config = Value.Default(NodeConfigSchema, {
      apiVersion: 'datamesh/v1',
      kind: 'Node',
      dataDir: dir,
      http: { port: 0 },
    }) as NodeConfig;
    const node = await MeshNode.start({
      config,
      plans: [plan],
      transport: await EmbeddedTransport.open({ dir: join(dir, 'log') }),
      logger: createLogger({ level: 'silent' }),
    });
    // Were the source spinning, neither this timer nor the request below would ever be served.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const health = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(2000) });
    expect(health.status).toBe(200);
    await node.stop();
  }, 5000);
});
