import { describe, expect, it } from 'vitest';
import type { Position } from '@datamesh/core';
import { eagerAckSource } from './__fixtures__/eager-ack-source.js';
import {
  checkBranding,
  checkCrashBeforeAck,
  checkEventsMatchSchemas,
  checkInvalidConfigs,
  checkRestartResumes,
  checkStartStop,
  checkStreamsDeclared,
  ConformanceError,
  describeSourceConformance,
} from './plugin-conformance.js';
import { createTestContext } from './plugin-context.js';

const eagerAck = { plugin: eagerAckSource, config: { batchSize: 5 }, readTimeoutMs: 2_000 };

type Create = typeof eagerAckSource.create;

/** The fixture with its bug fixed: the position it reports is the one last acknowledged. */
const carefulSource = {
  ...eagerAckSource,
  create: async (cfg: Parameters<Create>[0], ctx: Parameters<Create>[1]) => {
    const task = await eagerAckSource.create(cfg, ctx);
    let released: Position | undefined;
    return {
      ...task,
      async start(from: Position | undefined) {
        released = from;
        await task.start(from);
      },
      async acknowledge(position: Position) {
        released = position;
        await task.acknowledge(position);
      },
      releasedPosition: async () => released,
    };
  },
};

describe('checkCrashBeforeAck', () => {
  it('fails a source that releases its position when it reads a batch', async () => {
    const failure = checkCrashBeforeAck(eagerAck);
    await expect(failure).rejects.toThrow(ConformanceError);
    await expect(checkCrashBeforeAck(eagerAck)).rejects.toThrow(/position advanced before acknowledge/);
    await expect(checkCrashBeforeAck(eagerAck)).rejects.toThrow(
      /releasedPosition\(\) was undefined before the read and is \{"next":5\}/,
    );
  });

  it('passes the same source once it releases only in acknowledge', async () => {
    await expect(checkCrashBeforeAck({ ...eagerAck, plugin: carefulSource })).resolves.toBeUndefined();
  });
  // The datagen source passes it too: packages/connector-datagen/src/datagen-source.conformance.test.ts
  // (the testkit cannot import a plugin; plugins depend on it).
});

describe('the eager-ack fixture is otherwise well-formed', () => {
  // So the crash-before-acknowledge failure above is the bug the fixture has, not something else.
  it('passes every other source check', async () => {
    await checkBranding(eagerAckSource, 'source');
    await checkInvalidConfigs(eagerAckSource, [
      { config: { batchSize: 0, extra: 1 }, paths: ['/batchSize', '/extra'] },
    ]);
    await checkStreamsDeclared(eagerAck);
    await checkStartStop(eagerAck);
    await checkEventsMatchSchemas(eagerAck);
    await checkRestartResumes(eagerAck);
  });
});

describe('the other checks catch what they are for', () => {
  it('refuses a value that is not a branded plugin', async () => {
    const { $$type: _brand, ...unbranded } = eagerAckSource;
    await expect(checkBranding(unbranded, 'source')).rejects.toThrow(/no brand/);
    await expect(checkBranding(eagerAckSource, 'sink')).rejects.toThrow(/kind is "source", expected "sink"/);
  });

  it('refuses invalid-config expectations that name the wrong paths', async () => {
    await expect(
      checkInvalidConfigs(eagerAckSource, [{ config: { batchSize: 0 }, paths: ['/items'] }]),
    ).rejects.toThrow(/expected errors at \["\/items"\], got \["\/batchSize"\]/);
    await expect(
      checkInvalidConfigs(eagerAckSource, [{ config: { batchSize: 5 }, paths: ['/batchSize'] }]),
    ).rejects.toThrow(/was accepted/);
  });

  it('finds events that do not match the declared schemas', async () => {
    const wrong = {
      ...eagerAckSource,
      create: async (
        cfg: Parameters<typeof eagerAckSource.create>[0],
        ctx: Parameters<typeof eagerAckSource.create>[1],
      ) => {
        const task = await eagerAckSource.create(cfg, ctx);
        return {
          ...task,
          async read(signal: AbortSignal) {
            const batch = await task.read(signal);
            if (!batch) return batch;
            const events = batch.events.map(({ stream, event }) => ({
              stream,
              event: {
                key: { id: String(event.key?.['id']) },
                value: event.value && { ...event.value, op: 'd' as const },
              },
            }));
            return { ...batch, events };
          },
        };
      },
    };
    const failure = checkEventsMatchSchemas({ ...eagerAck, plugin: wrong });
    await expect(failure).rejects.toThrow(/key\.id = "0" does not match long/);
    await expect(checkEventsMatchSchemas({ ...eagerAck, plugin: wrong })).rejects.toThrow(
      /op "d" with before=null, after=row/,
    );
  });

  it('finds a restart that does not resume where it was acknowledged', async () => {
    const forgetful = {
      ...eagerAckSource,
      create: async (
        cfg: Parameters<typeof eagerAckSource.create>[0],
        ctx: Parameters<typeof eagerAckSource.create>[1],
      ) => {
        const task = await eagerAckSource.create(cfg, ctx);
        return { ...task, start: () => task.start(undefined) };
      },
    };
    await expect(checkRestartResumes({ ...eagerAck, plugin: forgetful })).rejects.toThrow(
      /emitted the acknowledged batch again/,
    );
  });
});

describe('createTestContext', () => {
  it('gives a silent context whose metrics, state, checkpoints and signal can be asserted on', async () => {
    const ctx = await createTestContext({ plugin: 'demo', committed: { seq: 3 } });
    ctx.metrics.counter('things_total', 'Things.').inc(2);
    expect(await ctx.registry.getSingleMetricAsString('datamesh_plugin_demo_things_total')).toContain(
      'datamesh_plugin_demo_things_total{pipeline="test",stage="stage",plugin="demo"} 2',
    );
    await ctx.state.put('k', { n: 1 });
    expect(ctx.state.get('k')).toEqual({ n: 1 });
    expect(ctx.state.snapshot()).toEqual({ k: { n: 1 } });
    expect(await ctx.checkpoints.committed()).toEqual({ seq: 3 });
    ctx.setCommitted(undefined);
    expect(await ctx.checkpoints.committed()).toBeUndefined();
    expect((await ctx.schemas.register('s', 'string')).id).toBe(1);
    expect(ctx.signal.aborted).toBe(false);
    ctx.abortController.abort();
    expect(ctx.signal.aborted).toBe(true);
  });
});

// The whole suite, as a plugin package runs it, with a waiver for the one check the fixture fails on purpose.
describeSourceConformance('eager-ack fixture', {
  ...eagerAck,
  invalidConfigs: [{ config: { items: 0 }, paths: ['/items'] }],
  waivers: { 'crash before acknowledge': 'broken on purpose: releases positions on read' },
});
