import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { defineSink, type SinkRecord } from '../contract/plugin.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import type { MeshNode } from './mesh-node.js';
import { countingSource, startTestNode, until, values } from './__fixtures__/test-node.js';

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
});
