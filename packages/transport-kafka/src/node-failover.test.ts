import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { expectExactRunningCounts, readRunningCounts } from '@datamesh/testkit';
import { KafkaTransport } from './index.js';

// Two nodes run the same pipeline (a source and a stateful processor writing a topic). The first runs both
// tasks; the second stands by — it must not fence the first — until the first is killed with -9 in the middle of
// the stream. Then it takes both tasks over, and the output holds every count exactly once. A processor that may
// run once per partition is spread over both nodes instead, and the survivor takes the dead node's partitions.

const child = fileURLToPath(new URL('./__fixtures__/count-node.mjs', import.meta.url));
const TOTAL = 12_000;

let kafka: ServiceEndpoints['kafka'];
let dir: string;
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
  dir = await mkdtemp(join(tmpdir(), 'datamesh-failover-'));
}, 300_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface NodeProcess {
  readonly child: ChildProcess;
  /** The log lines' messages so far, with their task and partition. */
  readonly messages: { msg: string; task?: string; partition?: number }[];
  readonly exited: Promise<number | null>;
}

function startNode(name: string, dataDir: string, runs: 'once' | 'per-partition' = 'once'): NodeProcess {
  const proc = spawn(process.execPath, [child, kafka.brokers.join(','), dataDir, name, String(TOTAL), runs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: NodeProcess['messages'] = [];
  let pending = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as { msg: string; task?: string; partition?: number };
        messages.push({
          msg: entry.msg,
          ...(entry.task ? { task: entry.task } : {}),
          ...(entry.partition === undefined ? {} : { partition: entry.partition }),
        });
      } catch {
        // not a log line
      }
    }
  });
  proc.stderr!.resume();
  return { child: proc, messages, exited: new Promise((resolve) => proc.on('exit', resolve)) };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The sum of a topic's end offsets (0 before it exists). */
async function endOffsetsSum(reader: KafkaTransport, topic: string): Promise<number> {
  const described = await reader.describeTopic(topic);
  return (described?.endOffsets ?? []).reduce((a, b) => a + b, 0);
}

/** Kills a node with -9 while the stream still goes on, so the kill lands in the middle of it. */
async function killMidStream(node: NodeProcess, produced: () => Promise<number>): Promise<void> {
  expect(await produced()).toBeLessThan(TOTAL);
  node.child.kill('SIGKILL');
  await node.exited;
}

const said = (node: NodeProcess, msg: string) => node.messages.filter((m) => m.msg.startsWith(msg));

describe('two nodes running one pipeline on Kafka', () => {
  it('runs each task on one node, and the other takes over when it is killed, exactly once', async () => {
    const name = `failover-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const reader = await KafkaTransport.connect({ brokers: kafka.brokers });
    const first = startNode(name, join(dir, 'first'));
    let second: NodeProcess | undefined;
    try {
      const output = `${name}.count`;
      const produced = () => endOffsetsSum(reader, output);
      await until('the first node writes outputs', async () => (await produced()) > 500, 60_000);

      second = startNode(name, join(dir, 'second'));
      // Both of the second node's tasks wait for the first node's; neither fences it.
      await until(
        'the second node stands by for both tasks',
        () => said(second!, 'task stands by').length === 2,
        30_000,
      );
      expect(said(first, 'task moved').length + said(first, 'task failed').length).toBe(0);
      await killMidStream(first, produced);
      await until(
        'the second node takes both tasks over',
        () => said(second!, 'task takes over').length === 2,
        60_000,
      );

      const counts = await readRunningCounts(reader, output, TOTAL, Date.now() + 120_000);
      expectExactRunningCounts(counts, TOTAL);
      expect(
        said(second, 'task takes over')
          .map((m) => m.task)
          .sort(),
      ).toEqual([`${name}.${name}-src`, `${name}.count`].sort());
    } finally {
      first.child.kill('SIGKILL');
      second?.child.kill('SIGTERM');
      await second?.exited;
      await reader.close();
    }
  }, 300_000);

  it('spreads a per-partition processor over both nodes; the survivor of a kill -9 takes its partitions, exactly once', async () => {
    const name = `spread-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const reader = await KafkaTransport.connect({ brokers: kafka.brokers });
    const first = startNode(name, join(dir, 'spread-first'), 'per-partition');
    let second: NodeProcess | undefined;
    /** The partition numbers whose instance a node started. */
    const opened = (node: NodeProcess) =>
      new Set(
        said(node, 'partition instance starts')
          .map((m) => m.partition)
          .filter((p) => p !== undefined),
      );
    try {
      const output = `${name}.count`;
      const produced = () => endOffsetsSum(reader, output);
      await until('the first node writes outputs', async () => (await produced()) > 500, 60_000);
      expect([...opened(first)].sort()).toEqual([0, 1, 2]);

      second = startNode(name, join(dir, 'spread-second'), 'per-partition');
      // The source runs on one node; the counting task's partitions are split: some move to the second node.
      await until('the second node runs some partitions', () => opened(second!).size > 0, 60_000);
      const moved = () => new Set(said(first, 'partition moved to another node').map((m) => m.partition));
      await until(
        'the first node gives those partitions up',
        () => [...opened(second!)].every((p) => moved().has(p)) && moved().size === opened(second!).size,
        30_000,
      );
      expect(moved().size).toBeLessThan(3);
      await until(
        'the second node stands by for the source',
        () => said(second!, 'task stands by').length > 0,
        30_000,
      );
      expect(said(second, 'task stands by').map((m) => m.task)).toEqual([`${name}.${name}-src`]);
      await killMidStream(first, produced);
      await until(
        'the second node takes the source over',
        () => said(second!, 'task takes over').length === 1,
        60_000,
      );
      await until('the second node runs every partition', () => opened(second!).size === 3, 60_000);

      const counts = await readRunningCounts(reader, output, TOTAL, Date.now() + 120_000);
      expectExactRunningCounts(counts, TOTAL);
      expect(said(second, 'task failed')).toEqual([]);
    } finally {
      first.child.kill('SIGKILL');
      second?.child.kill('SIGTERM');
      await second?.exited;
      await reader.close();
    }
  }, 300_000);
});
