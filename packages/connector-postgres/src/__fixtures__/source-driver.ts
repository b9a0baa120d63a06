import {
  parseConfig,
  type Position,
  type SourceBatch,
  type SourceBatchEvent,
  type SourceTask,
} from '@datamesh/core';
import { createTestContext, type TestContext } from '@datamesh/testkit';
import { postgresSource } from '../postgres-source.js';
import type { PostgresFixture } from './postgres-fixture.js';

/** A Postgres source task driven by hand, as the runtime would: start, read, acknowledge, stop. */
export interface SourceDriver {
  readonly task: SourceTask;
  readonly ctx: TestContext;
  /** Reads until `count` events arrived; fails after `ms`. Returns them and the last batch's position. */
  read(count: number, ms?: number): Promise<{ events: SourceBatchEvent[]; position: Position }>;
  /** Reads until `done(events so far)` holds; fails after `ms`. */
  readUntil(
    done: (events: readonly SourceBatchEvent[]) => boolean,
    ms?: number,
  ): Promise<{ events: SourceBatchEvent[]; position: Position | undefined }>;
  stop(): Promise<void>;
}

export async function startSource(
  db: PostgresFixture,
  config: Record<string, unknown>,
  from?: Position,
): Promise<SourceDriver> {
  const parsed = parseConfig(postgresSource.config, { ...db.connection, ...config }, 'source "pg"');
  const ctx = await createTestContext({ plugin: 'postgres', stage: 'pg' });
  const task = await postgresSource.create(parsed, ctx);
  await task.start(from);
  const readUntil: SourceDriver['readUntil'] = async (done, ms = 20_000) => {
    const events: SourceBatchEvent[] = [];
    let last: SourceBatch | undefined;
    const deadline = Date.now() + ms;
    while (!done(events)) {
      if (Date.now() > deadline)
        throw new Error(`condition not met after ${ms} ms (${events.length} events read)`);
      const batch = await task.read(AbortSignal.timeout(1_000));
      if (batch) {
        events.push(...batch.events);
        last = batch;
      }
    }
    return { events, position: last?.position };
  };
  return {
    task,
    ctx,
    readUntil,
    async read(count, ms) {
      const { events, position } = await readUntil((e) => e.length >= count, ms);
      return { events, position: position! };
    },
    async stop() {
      ctx.abortController.abort();
      await task.stop();
    },
  };
}

export const summary = (e: SourceBatchEvent): string =>
  e.event.value === null
    ? `tombstone ${JSON.stringify(e.event.key)}`
    : `${e.event.value.op} ${JSON.stringify(e.event.key)}`;

/** Applies change events to a map keyed by the event key, as an idempotent sink would. */
export function applyEvents(
  state: Map<string, Record<string, unknown>>,
  events: readonly SourceBatchEvent[],
): void {
  for (const { event } of events) {
    if (event.value === null || event.key === null) continue;
    const key = JSON.stringify(event.key);
    if (event.value.op === 'd') state.delete(key);
    else if (event.value.op === 't') state.clear();
    else if (event.value.after) state.set(key, event.value.after);
  }
}
