import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { defineProcessor, defineSink, type SinkRecord } from '../contract/plugin.js';
import { avroType } from '../schema/avro.js';
import { decodeWire } from '../schema/wire-format.js';
import type { ConsumedRecord } from '../transport/transport.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import type { MeshNode } from './mesh-node.js';
import {
  counterSchemas,
  countingSource,
  metricValue,
  startTestNode,
  until,
  values,
} from './__fixtures__/test-node.js';

let dir = '';
let transport: EmbeddedTransport;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-standby-'));
  transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
});
afterEach(async () => {
  await transport.close();
  await rm(dir, { recursive: true, force: true });
});

/** A sink that must run on one node at a time (as sink-kafka writing exactly once), keeping what it flushed. */
function exclusiveSink(flushed: SinkRecord[]) {
  return defineSink({
    name: 'collect',
    version: '1.0.0',
    config: Type.Object({}),
    exclusive: () => true,
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
}

/** Two nodes of one pipeline, as two machines sharing a cluster: one transport, one schema registry file. */
function startNode(flushed: SinkRecord[]): Promise<MeshNode> {
  return startTestNode({
    dir,
    shared: transport,
    plugins: [countingSource(), exclusiveSink(flushed)],
    pipeline: {
      name: 'standby',
      sources: [{ name: 'src', plugin: 'counting', config: { total: 3000, perRead: 10, pauseMs: 5 } }],
      sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
    },
  });
}

/**
 * Passes events on, and fails on every change whose n is a multiple of `failEvery` (0: none), which the runtime
 * dead-letters. Stateless, so a task running it may run once per partition.
 */
const pass = defineProcessor({
  name: 'pass',
  version: '1.0.0',
  config: Type.Object({ failEvery: Type.Integer({ default: 0 }) }),
  plan: (inputs) => ({ ...inputs[0]!, lineage: [], consumes: [] }),
  create: (config) => ({
    process(events) {
      const n = events[0]?.value?.after?.['n'] as number;
      if (config.failEvery > 0 && n % config.failEvery === 0) throw new Error(`refuses ${n}`);
      return events;
    },
  }),
});

/** A node copying the counting source's changes into the topic `<name>.copy`. */
function startCopyNode(name: string, failEvery = 0): Promise<MeshNode> {
  return startTestNode({
    dir,
    shared: transport,
    plugins: [countingSource(), pass],
    pipeline: {
      name,
      sources: [{ name: 'src', plugin: 'counting', config: { total: 3000, perRead: 10, pauseMs: 5 } }],
      processors: [{ name: 'copy', plugin: 'pass', inputs: ['src'], shared: true, config: { failEvery } }],
    },
  });
}

/** The records a topic holds (its end offsets summed; the embedded log writes no markers). */
async function recordsIn(topic: string): Promise<number> {
  return ((await transport.describeTopic(topic))?.endOffsets ?? []).reduce((x, y) => x + y, 0);
}

/** The n of every change in a topic, in the order read. */
async function readCopies(topic: string): Promise<number[]> {
  const reader = transport.consumer({ group: `${topic}-reader`, topics: [topic] });
  const records: ConsumedRecord[] = [];
  try {
    for (let empty = 0; empty < 3;) {
      const batch = await reader.poll({ maxRecords: 1000, maxWaitMs: 100 });
      records.push(...batch);
      empty = batch.length === 0 ? empty + 1 : 0;
    }
  } finally {
    await reader.close();
  }
  const valueType = avroType(counterSchemas.valueSchema);
  return records.map((r) => (decodeWire(r.value!, valueType) as { after: { n: number } }).after.n);
}

function expectEachOnce(ns: readonly number[], expected: readonly number[]): void {
  expect(ns.length).toBe(expected.length);
  expect(new Set(ns)).toEqual(new Set(expected));
}

const upTo = (total: number, keep: (n: number) => boolean = () => true) =>
  Array.from({ length: total }, (_, i) => i + 1).filter(keep);

describe('two nodes running one pipeline', () => {
  it('runs the source and an exclusive sink on the first; the second takes them over when it stops', async () => {
    const first: SinkRecord[] = [];
    const second: SinkRecord[] = [];
    const a = await startNode(first);
    let b: MeshNode | undefined;
    try {
      await until(() => first.length > 300);
      b = await startNode(second);
      await new Promise((r) => setTimeout(r, 500));
      // The second node's source and sink task wait: the first node's keep going, unfenced.
      expect(second).toEqual([]);
      const before = first.length;
      await until(() => first.length > before + 200);
      expect(second).toEqual([]);
      expect(a.health().every((t) => t.restarts === 0)).toBe(true);
      expect(b.health().map((t) => [t.id, t.state])).toEqual([
        ['standby.src', 'standby'],
        ['standby.out', 'standby'],
      ]);

      await a.stop();
      expect(first.length).toBeLessThan(3000); // the rest is the second node's
      await until(() => first.length + second.length >= 3000, 20_000);
      expect(b.health().map((t) => t.state)).toEqual(['running', 'running']);
    } finally {
      await a.stop();
      await b?.stop();
    }
    const all = [...values(first), ...values(second)];
    expect(all.length).toBe(3000);
    expect(new Set(all)).toEqual(new Set(Array.from({ length: 3000 }, (_, i) => i + 1)));
    expect(second.length).toBeGreaterThan(0);
  });

  it('spreads a stateless processor writing a topic over both nodes by partition; the second takes all when the first stops', async () => {
    const start = () => startCopyNode('spread');
    const copied = (node: MeshNode) =>
      metricValue(node, 'datamesh_events_in_total', { stage: 'copy', kind: 'processor' });
    const a = await start();
    let b: MeshNode | undefined;
    try {
      await until(async () => (await copied(a)) > 300);
      b = await start();
      // Both nodes copy: the partition numbers are split between them.
      await until(async () => (await copied(b!)) > 100);
      const aBefore = await copied(a);
      await until(async () => (await copied(a)) > aBefore + 50);
      expect(b.health().map((t) => [t.id, t.state])).toEqual([
        ['spread.src', 'standby'],
        ['spread.copy', 'running'],
      ]);
      // /health shows which partition numbers each node runs: each one on one node.
      const partitionsOf = (node: MeshNode) => node.health().find((t) => t.id === 'spread.copy')?.partitions;
      expect([...partitionsOf(a)!, ...partitionsOf(b)!].sort()).toEqual([0, 1, 2, 3]);
      expect(partitionsOf(a)!.length).toBe(2);
      await a.stop();
      const written = () => recordsIn('spread.copy');
      await until(async () => (await written()) >= 3000, 20_000);
    } finally {
      await a.stop();
      await b?.stop();
    }
    // The output topic holds every change once (what the first node copied and did not commit was dropped).
    expectEachOnce(await readCopies('spread.copy'), upTo(3000));
  });
});

describe('a task run once per partition', () => {
  it('restarts a task from the committed offsets when another takes over the transactional id of one of its partitions, and loses nothing', async () => {
    const node = await startCopyNode('fenced', 10);
    try {
      const written = () => recordsIn('fenced.copy');
      await until(async () => (await written()) > 300);
      // As a node that was given the busiest partition in a rebalance this one has not seen yet would.
      const ends = (await transport.describeTopic('src.counters'))!.endOffsets;
      const busiest = ends.indexOf(Math.max(...ends));
      const usurper = transport.transactionalProducer!(`datamesh.processor.fenced.copy.${busiest}`);
      await usurper.init();
      await usurper.close();
      await until(async () => (await written()) >= 2700, 20_000);
      const copy = node.health().find((t) => t.id === 'fenced.copy')!;
      expect(copy.lastError).toContain(`the transaction of partition ${busiest} was fenced`);
      expect(copy.restarts).toBe(1);
    } finally {
      await node.stop();
    }
    expectEachOnce(
      await readCopies('fenced.copy'),
      upTo(3000, (n) => n % 10 !== 0),
    );
    // The dead letters went into the instances' transactions: those of the aborted one were not left behind.
    expectEachOnce(
      await readCopies('datamesh.dlq.fenced'),
      upTo(3000, (n) => n % 10 === 0),
    );
  });

  it('halts a stateful task that kept its state per partition when it must run once, saying how to go on', async () => {
    const counter = defineProcessor({
      name: 'count',
      version: '1.0.0',
      config: Type.Object({ perPartition: Type.Boolean() }),
      stateful: true,
      plan: (inputs, config) => ({
        ...inputs[0]!,
        lineage: [],
        consumes: [],
        perPartition: config.perPartition,
      }),
      create: (_config, ctx) => ({
        async process(events) {
          for (const event of events) {
            const key = `count\u0000${String(event.key?.['id'])}`;
            await ctx.state.put(key, (ctx.state.get<number>(key) ?? 0) + 1);
          }
          return events;
        },
      }),
    });
    const start = (perPartition: boolean) =>
      startTestNode({
        dir,
        shared: transport,
        plugins: [countingSource(), counter],
        pipeline: {
          name: 'moded',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 300, perRead: 10, pauseMs: 5 } }],
          processors: [
            { name: 'count', plugin: 'count', inputs: ['src'], shared: true, config: { perPartition } },
          ],
        },
      });
    const perPartition = await start(true);
    try {
      await until(async () =>
        ((await transport.describeTopic('moded.count'))?.endOffsets ?? []).some((e) => e > 0),
      );
    } finally {
      await perPartition.stop();
    }
    const once = await start(false);
    try {
      await until(() => once.health().find((t) => t.id === 'moded.count')?.state === 'failed');
      expect(once.health().find((t) => t.id === 'moded.count')?.lastError).toContain(
        'keeps its state per partition (topics __datamesh_state.moded.count.<p>), but the task now runs once',
      );
    } finally {
      await once.stop();
    }
  });
});
