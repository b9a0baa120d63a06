import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { defineProcessor, defineSink, defineSource } from '../contract/plugin.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import {
  collectingSink,
  counterSchemas,
  countingSource,
  startTestNode,
  until,
  values,
} from './__fixtures__/test-node.js';

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

let sink = collectingSink();
const flushed = () => sink.flushed;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-node-'));
  sink = collectingSink();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const startNode = (total: number) =>
  startTestNode({
    dir,
    plugins: [countingSource(), double, sink.plugin],
    pipeline: {
      name: 'counts',
      sources: [{ name: 'src', plugin: 'counting', config: { total } }],
      processors: [{ name: 'twice', plugin: 'double', inputs: ['src'] }],
      sinks: [{ name: 'mem', plugin: 'collect', inputs: ['twice'] }],
    },
  });

describe('MeshNode', () => {
  it('moves every event from source through the fused processor into the sink, in order per key', async () => {
    const node = await startNode(500);
    await until(() => flushed().length >= 500);
    await node.stop();
    expect(values(flushed()).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 500 }, (_, i) => (i + 1) * 2),
    );
    for (let key = 0; key < 7; key++) {
      const ofKey = values(flushed().filter((r) => r.event.key?.['id'] === key));
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
  });

  it('serves metrics labelled by pipeline, stage and plugin, and health', async () => {
    const node = await startNode(100);
    await until(() => flushed().length >= 100);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(
      /datamesh_events_out_total\{pipeline="counts",stage="src",plugin="counting",kind="source"\} 100/,
    );
    expect(metrics).toMatch(
      /datamesh_events_in_total\{pipeline="counts",stage="twice",plugin="double",kind="processor"\} 100/,
    );
    expect(metrics).toMatch(
      /datamesh_events_out_total\{pipeline="counts",stage="mem",plugin="collect",kind="sink"\} 100/,
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
    await until(() => flushed().length >= 300);
    await first.stop();
    const second = await startNode(600);
    await until(() => flushed().length >= 600);
    await new Promise((r) => setTimeout(r, 200));
    await second.stop();
    expect(values(flushed()).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 600 }, (_, i) => (i + 1) * 2),
    );
  });

  it('is not starved by a source that answers "nothing" at once', async () => {
    const eager = defineSource({
      name: 'eager-idle',
      version: '1.0.0',
      config: Type.Object({}),
      streams: () => [{ name: 'counters', ...counterSchemas }],
      create: () => ({
        start: async () => {},
        read: async () => undefined,
        acknowledge: async () => {},
        stop: async () => {},
      }),
    });
    const node = await startTestNode({
      dir,
      plugins: [eager, sink.plugin],
      pipeline: {
        name: 'idle',
        sources: [{ name: 'src', plugin: 'eager-idle' }],
        sinks: [{ name: 'mem', plugin: 'collect', inputs: ['src'] }],
      },
    });
    // Were the source spinning, neither this timer nor the request below would ever be served.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const health = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(2000) });
    expect(health.status).toBe(200);
    await node.stop();
  }, 5000);

  it('a failed start leaves nothing running and releases the data dir', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(
        startTestNode({
          dir,
          plugins: [countingSource(), sink.plugin],
          pipeline: {
            name: 'busy',
            sources: [{ name: 'src', plugin: 'counting', config: { total: 100 } }],
            sinks: [{ name: 'mem', plugin: 'collect', inputs: ['src'] }],
          },
          port,
        }),
      ).rejects.toThrow(/EADDRINUSE/);
      await new Promise((r) => setTimeout(r, 200));
      expect(flushed()).toEqual([]);
      // The transport was closed: its lock is free for the next node.
      const reopened = await EmbeddedTransport.open({ dir: join(dir, 'log') });
      await reopened.close();
    } finally {
      blocker.close();
    }
  });

  it('reports an unclean stop when a task fails while draining', async () => {
    const failingFlush = defineSink({
      name: 'failing-flush',
      version: '1.0.0',
      config: Type.Object({}),
      create: (_config, ctx) => ({
        write: async () => {},
        flush: async () => {},
        // Every stop closes the sink, so this fails the drain deterministically.
        close: async () => {
          if (ctx.signal.aborted) throw new Error('flush refused while draining');
        },
      }),
    });
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), failingFlush],
      pipeline: {
        name: 'unclean',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 100_000, pauseMs: 5 } }],
        sinks: [{ name: 'out', plugin: 'failing-flush', inputs: ['src'] }],
      },
    });
    await until(() => node.health().every((t) => t.state === 'running'));
    await new Promise((r) => setTimeout(r, 200));
    const { clean } = await node.stop();
    expect(clean).toBe(false);
    expect(node.health().find((t) => t.id === 'unclean.out')).toMatchObject({
      state: 'failed',
      lastError: 'flush refused while draining',
    });
  });
});
