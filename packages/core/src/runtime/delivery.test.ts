import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delegatingConsumer } from '../transport/__fixtures__/delegating-consumer.js';
import { Type } from '@sinclair/typebox';
import { defineProcessor, defineSink, defineSource, type SourceTask } from '../contract/plugin.js';
import { METRIC } from '../metrics/standard-metrics.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import type { ConsumedRecord, Consumer, Transport } from '../transport/transport.js';
import {
  collectingSink,
  countingSource,
  metricValue,
  startTestNode,
  until,
  values,
} from './__fixtures__/test-node.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-delivery-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const dropAll = defineProcessor({
  name: 'drop-all',
  version: '1.0.0',
  config: Type.Object({}),
  plan: (inputs) => ({ keySchema: inputs[0]!.keySchema, valueSchema: inputs[0]!.valueSchema, lineage: [] }),
  create: () => ({ process: () => [] }),
});

const sorted = (ns: readonly number[]) => [...ns].sort((a, b) => a - b);

describe('delivery', () => {
  it('keeps consuming while a sink that allows it flushes, and commits each flush once it is durable', async () => {
    const written: number[] = [];
    const durable: number[] = [];
    let flushing = 0;
    let writesDuringFlush = 0;
    const slow = defineSink({
      name: 'slow',
      version: '1.0.0',
      config: Type.Object({}),
      create: () => {
        let buffered: number[] = [];
        return {
          concurrentFlush: true,
          async write(records) {
            if (flushing > 0) writesDuringFlush++;
            const ns = values(records);
            written.push(...ns);
            buffered.push(...ns);
          },
          async flush() {
            const batch = buffered; // what was written before the call
            buffered = [];
            flushing++;
            await new Promise((r) => setTimeout(r, 150));
            durable.push(...batch);
            flushing--;
          },
        };
      },
    });
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), slow],
      pipeline: {
        name: 'background',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 5000, perRead: 20, pauseMs: 2 } }],
        sinks: [{ name: 'out', plugin: 'slow', inputs: ['src'] }],
      },
    });
    try {
      await until(() => durable.length >= 5000, 20_000);
    } finally {
      await node.stop();
    }
    expect(writesDuringFlush).toBeGreaterThan(0);
    expect(sorted(durable)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
    expect(written).toHaveLength(5000);
  });

  it('hands no event to the sink twice when its consumer rejoins the group and is sent records again', async () => {
    const sink = collectingSink();
    // As a Kafka consumer does after a rejoin: it goes back to the committed offsets and hands out again
    // records the task already has (here: every 4th poll repeats the records of the two before it).
    const rewinding = (transport: Transport): Transport =>
      Object.assign(Object.create(transport) as Transport, {
        consumer(options: Parameters<Transport['consumer']>[0]) {
          const inner = transport.consumer(options);
          if (options.group !== 'datamesh.rejoin.out') return inner;
          const recent: ConsumedRecord[][] = [];
          let polls = 0;
          return delegatingConsumer(inner, {
            async poll(args: Parameters<Consumer['poll']>[0]) {
              const records = await inner.poll(args);
              if (records.length === 0) return records;
              const handedOut = ++polls % 4 === 0 ? [...recent.flat(), ...records] : records;
              recent.push(records);
              if (recent.length > 2) recent.shift();
              return handedOut;
            },
          });
        },
      });
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), sink.plugin],
      flushIntervalMs: 1000,
      wrap: rewinding,
      pipeline: {
        name: 'rejoin',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 5000, perRead: 20, pauseMs: 2 } }],
        sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
      },
    });
    try {
      await until(() => sink.flushed.length >= 5000, 20_000);
      await new Promise((r) => setTimeout(r, 300)); // anything late would show as a duplicate
    } finally {
      await node.stop();
    }
    const counters = values(sink.flushed);
    expect(counters.length - new Set(counters).size).toBe(0);
    expect(new Set(counters).size).toBe(5000);
  });

  it('commits input offsets on time even when every event is filtered out', async () => {
    const sink = collectingSink();
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), dropAll, sink.plugin],
      pipeline: {
        name: 'drop',
        // A steady stream, so the task never sees an empty poll.
        sources: [{ name: 'src', plugin: 'counting', config: { total: 1_000_000, perRead: 20, pauseMs: 5 } }],
        processors: [{ name: 'none', plugin: 'drop-all', inputs: ['src'] }],
        sinks: [{ name: 'out', plugin: 'collect', inputs: ['none'] }],
      },
    });
    try {
      await until(async () => (await metricValue(node, METRIC.eventsOut, { stage: 'src' })) > 1000);
      const lag = await metricValue(node, METRIC.inputLagEvents, { pipeline: 'drop' });
      expect(lag).toBeLessThan(500);
    } finally {
      await node.stop();
    }
    expect(sink.flushed).toEqual([]);
  });

  it('recovers every partition after a sink write fails and its close throws, and counts the error', async () => {
    const sink = collectingSink({ failFirstWrite: true, failClose: true });
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), sink.plugin],
      pipeline: {
        name: 'flaky',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 400 } }],
        sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
      },
    });
    try {
      await until(() => new Set(values(sink.flushed)).size >= 400, 15_000);
      expect(await metricValue(node, METRIC.errors, { stage: 'out', kind: 'sink' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(await metricValue(node, METRIC.taskRestarts, { stage: 'out' })).toBeGreaterThanOrEqual(1);
    } finally {
      await node.stop();
    }
    expect(new Set(values(sink.flushed))).toEqual(new Set(Array.from({ length: 400 }, (_, i) => i + 1)));
  });

  it('acknowledges a source only after the transport synced what it acknowledges', async () => {
    const calls: string[] = [];
    const sink = collectingSink();
    const node = await startTestNode({
      dir,
      plugins: [countingSource({ onAcknowledge: (p) => calls.push(`ack ${String(p['n'])}`) }), sink.plugin],
      pipeline: {
        name: 'acks',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 300, pauseMs: 20 } }],
        sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
      },
      wrap: (transport: Transport) =>
        new Proxy(transport, {
          get(target, prop, receiver) {
            if (prop === 'sync') {
              return async () => {
                await target.sync();
                calls.push('synced');
              };
            }
            const value = Reflect.get(target, prop, receiver) as unknown;
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        }),
    });
    await until(() => calls.some((c) => c === 'ack 300'), 15_000);
    await node.stop();
    const acks = calls.map((c, i) => [c, i] as const).filter(([c]) => c.startsWith('ack'));
    expect(acks.length).toBeGreaterThan(0);
    for (const [, i] of acks) expect(calls[i - 1]).toBe('synced');
  });

  it('keeps the partition count of existing topics when the configured count changes', async () => {
    const sink = collectingSink();
    const pipeline = {
      name: 'parts',
      sources: [{ name: 'src', plugin: 'counting', config: { total: 50 } }],
      sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
    };
    const first = await startTestNode({
      dir,
      plugins: [countingSource(), sink.plugin],
      pipeline,
      partitions: 4,
    });
    await until(() => sink.flushed.length >= 50);
    await first.stop();
    const second = await startTestNode({
      dir,
      plugins: [countingSource(), sink.plugin],
      pipeline,
      partitions: 8,
    });
    await new Promise((r) => setTimeout(r, 200));
    await second.stop();
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), readOnly: true });
    try {
      expect((await transport.describeTopic('src.counters'))?.partitions).toBe(4);
    } finally {
      await transport.close();
    }
  });

  it('counts a source failure and restarts the source from its stored position', async () => {
    const sink = collectingSink();
    let failed = false;
    const flakySource = defineSource({
      ...countingSource(),
      create(config, ctx) {
        const inner = countingSource().create(config, ctx) as SourceTask;
        return {
          ...inner,
          async read(signal) {
            const batch = await inner.read(signal);
            if (!failed && batch && (batch.position['n'] as number) > 100) {
              failed = true;
              throw new Error('connection reset');
            }
            return batch;
          },
        };
      },
    });
    const node = await startTestNode({
      dir,
      plugins: [flakySource, sink.plugin],
      pipeline: {
        name: 'flaky-source',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 300 } }],
        sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
      },
    });
    try {
      await until(() => new Set(values(sink.flushed)).size >= 300, 15_000);
      expect(await metricValue(node, METRIC.errors, { stage: 'src', kind: 'source' })).toBe(1);
      expect(await metricValue(node, METRIC.taskRestarts, { stage: 'src' })).toBe(1);
    } finally {
      await node.stop();
    }
    expect(new Set(values(sink.flushed))).toEqual(new Set(Array.from({ length: 300 }, (_, i) => i + 1)));
  });

  it('gives up a stop after tasks.stopTimeoutMs when a plugin ignores the abort, and says so', async () => {
    let release: () => void = () => undefined;
    const stuck = defineSink({
      name: 'stuck',
      version: '1.0.0',
      config: Type.Object({}),
      create: () => ({
        write: async () => {},
        flush: async () => {},
        // Ignores the abort signal: the stop must not wait for it forever.
        close: () => new Promise<void>((resolve) => (release = resolve)),
      }),
    });
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), stuck],
      pipeline: {
        name: 'stuck',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 50 } }],
        sinks: [{ name: 'out', plugin: 'stuck', inputs: ['src'] }],
      },
      stopTimeoutMs: 300,
    });
    await until(() => node.health().every((t) => t.state === 'running'));
    const started = Date.now();
    const { clean } = await node.stop();
    expect(clean).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
    release();
  });
});
