import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, parseConfig } from '@datamesh/core';
import { TcpProxy } from '@datamesh/services/tcp-proxy';
import { createTestContext } from '@datamesh/testkit';
import { elasticsearchSink } from '../elasticsearch-sink.js';
import { change, metricValue } from './change-records.js';
import { engineUrl, type EngineUnderTest } from './engines.js';
import { countOf, deleteIndexes, uniqueIndex } from './search-index.js';

/** True if `promise` has not settled within `ms`. */
async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const pending = Symbol('pending');
  return (await Promise.race([promise, sleep(ms, pending)])) === pending;
}

/**
 * The real plugin through a TCP proxy to a real engine, cut during a flush and during a large write. Called once
 * per engine (`engine-outage.<engine>.test.ts`).
 */
export function describeEngineOutage(target: EngineUnderTest): void {
  let url: string;
  const index = uniqueIndex('outage');

  beforeAll(async () => {
    url = await engineUrl(target);
  }, 300_000);

  afterAll(async () => {
    if (url) await deleteIndexes(url, [index]);
  });

  describe(`elasticsearch sink through an outage of ${target.title}`, () => {
    it('waits through an unreachable engine, keeps memory bounded, and loses nothing', async () => {
      const upstream = new URL(url);
      const proxy = new TcpProxy(0, { host: upstream.hostname, port: Number(upstream.port) });
      await proxy.open();
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger({
        level: 'info',
        destination: {
          write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
        },
      });
      const ctx = await createTestContext({ plugin: 'elasticsearch', logger });
      const bulk = { maxActions: 50, maxBytes: 1024 * 1024, concurrency: 2 };
      const config = parseConfig(elasticsearchSink.config, {
        url: `http://127.0.0.1:${proxy.port}`,
        // Neither test node runs a security plugin, so credentials are ignored; they show they are never logged.
        auth: { username: 'indexer', password: 'hunter2-secret' },
        index,
        requestTimeoutMs: 5000,
        bulk,
        retry: { initialDelayMs: 50, maxDelayMs: 400 },
      });
      const task = await elasticsearchSink.create(config, ctx);
      const gauge = () => metricValue(ctx.registry, 'datamesh_plugin_elasticsearch_buffered_bytes');
      let offset = 0;
      const batch = (n: number) => Array.from({ length: n }, () => change('c', offset, 1000 + offset++));
      try {
        await task.write(batch(100));
        await task.flush();

        // 1. Cut during a flush: the flush waits, and completes once the engine is back.
        await proxy.cut();
        await task.write(batch(120)); // below the request limit: write returns at once
        const flushing = task.flush();
        expect(await stillPending(flushing, 2500), 'the flush waits while the engine is unreachable').toBe(
          true,
        );
        await proxy.open();
        expect(await flushing).toEqual([]);
        expect(await countOf(url, index)).toBe(220);

        // 2. Cut while a large write arrives: write waits for room instead of buffering everything.
        await proxy.cut();
        const outage = batch(1000);
        const actionBytes = Math.max(...outage.map((r) => JSON.stringify(r.event.value?.after).length)) + 150;
        // At most concurrency × 2 requests out, plus one open buffer per lane, each of maxActions actions.
        const bound = (bulk.concurrency * 2 + bulk.concurrency) * bulk.maxActions * actionBytes;
        expect(bound).toBeLessThan(outage.length * actionBytes);
        const writing = (async () => {
          await task.write(outage);
          return task.flush();
        })();
        let peak = 0;
        for (let waited = 0; waited < 2500; waited += 100) {
          await sleep(100);
          peak = Math.max(peak, await gauge());
        }
        expect(
          await stillPending(writing, 0),
          'the write waits for room while the engine is unreachable',
        ).toBe(true);
        expect(peak).toBeGreaterThan(0);
        expect(peak).toBeLessThanOrEqual(bound);
        await proxy.open();
        expect(await writing).toEqual([]);
        expect(await countOf(url, index)).toBe(1220);
        expect(await gauge()).toBe(0);
      } finally {
        await task.close?.();
        ctx.abortController.abort();
        await proxy.cut();
      }
      expect(await metricValue(ctx.registry, 'datamesh_plugin_elasticsearch_retries_total')).toBeGreaterThan(
        2,
      );
      // One warning when retries start and one line when they succeed again, per outage; not one per attempt.
      const messages = lines.map((l) => l['msg']);
      expect(
        messages.filter((m) => m === 'search engine request failed; retrying with backoff until it succeeds'),
      ).toHaveLength(2);
      expect(messages.filter((m) => m === 'search engine requests succeed again')).toHaveLength(2);
      expect(JSON.stringify(lines)).not.toContain('hunter2-secret');
      expect(JSON.stringify(lines)).not.toContain(Buffer.from('indexer:hunter2-secret').toString('base64'));
    }, 60_000);
  });
}
