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
// the stream. Then it takes both tasks over, and the output holds every count exactly once.

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
  /** The log lines' messages so far, with their task. */
  readonly messages: { msg: string; task?: string }[];
  readonly exited: Promise<number | null>;
}

function startNode(name: string, dataDir: string): NodeProcess {
  const proc = spawn(process.execPath, [child, kafka.brokers.join(','), dataDir, name, String(TOTAL)], {
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
        const entry = JSON.parse(line) as { msg: string; task?: string };
        messages.push({ msg: entry.msg, ...(entry.task ? { task: entry.task } : {}) });
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

const said = (node: NodeProcess, msg: string) => node.messages.filter((m) => m.msg.startsWith(msg));

describe('two nodes running one pipeline on Kafka', () => {
  it('runs each task on one node, and the other takes over when it is killed, exactly once', async () => {
    const name = `failover-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const reader = await KafkaTransport.connect({ brokers: kafka.brokers });
    const first = startNode(name, join(dir, 'first'));
    let second: NodeProcess | undefined;
    try {
      const output = `${name}.count`;
      const produced = async () => {
        const described = await reader.describeTopic(output);
        return (described?.endOffsets ?? []).reduce((a, b) => a + b, 0);
      };
      await until('the first node writes outputs', async () => (await produced()) > 500, 60_000);

      second = startNode(name, join(dir, 'second'));
      // Both of the second node's tasks wait for the first node's; neither fences it.
      await until(
        'the second node stands by for both tasks',
        () => said(second!, 'task stands by').length === 2,
        30_000,
      );
      expect(said(first, 'task moved').length + said(first, 'task failed').length).toBe(0);
      const before = await produced();
      expect(before).toBeLessThan(TOTAL); // the stream is still going: the kill lands in the middle of it

      first.child.kill('SIGKILL');
      await first.exited;
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
});
