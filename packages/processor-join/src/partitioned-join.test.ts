import { describe, expect, it } from 'vitest';
import {
  parseConfig,
  type ChangeEvent,
  type ProcessorInput,
  type ProcessorTask,
  type Row,
  type StateStore,
} from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { joinProcessor } from './join-processor.js';
import { JOIN_SEQUENCE_HEADER, JOIN_VERSION_HEADER } from './table-join.js';
import { change, customers, expectedJoin, orders, shopHistory } from './__fixtures__/shop.js';
import { random } from './__fixtures__/random.js';

const on = [{ left: 'customer_id', right: 'id' }];

/** The parts of a partitioned join, planned as the planner plans them. */
function partsOf(config: Record<string, unknown>) {
  const parsed = parseConfig(joinProcessor.config, { ...config, partitioned: true });
  const parts = joinProcessor.expand!([orders, customers], parsed)!;
  const outputs = new Map<string, ProcessorInput>();
  return parts.map((part) => {
    const inputs = part.inputs.map((ref) =>
      typeof ref === 'number' ? [orders, customers][ref]! : outputs.get(ref)!,
    );
    const plan = part.plugin.plan(inputs, part.config as never);
    outputs.set(part.name, {
      name: `j.${part.name}`,
      keySchema: plan.keySchema,
      valueSchema: plan.valueSchema,
    });
    return { ...part, inputs, plan };
  });
}

/** A stable partition for a key: equal keys (whichever input they come from) land in equal numbers. */
function partitionOf(key: Row | null, count: number, next: (n: number) => number): number {
  if (key === null) return next(count);
  let hash = 0;
  for (const char of JSON.stringify(key)) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
  return hash % count;
}

interface Queued {
  readonly event: ChangeEvent;
  readonly input: string;
}

/**
 * Runs the three parts as the runtime does, an instance per partition with its own state, over in-memory topics;
 * `step` picks at random what happens next (a source change, or a batch of some instance), so the instances'
 * outputs interleave in many orders.
 */
async function partitionedJoin(config: Record<string, unknown>, seed: number) {
  const signed = random(seed);
  const next = (n: number) => (signed(n) + n) % n;
  const [byKey, matched, resolved] = partsOf(config);
  const partitions = { left: 2, joinKey: 3, output: 2 };
  const states = new Map<string, StateStore[]>();
  const instances = async (part: NonNullable<typeof byKey>, count: number) =>
    Promise.all(
      Array.from({ length: count }, async () => {
        const ctx = await createTestContext({ inputs: part.inputs });
        states.set(part.name, [...(states.get(part.name) ?? []), ctx.state]);
        return part.plugin.create(part.config as never, ctx);
      }),
    );
  const stages: { task: ProcessorTask; queue: Queued[]; route: (e: ChangeEvent) => void }[] = [];
  const view = new Map<string, Row>();
  const headers: (Record<string, string> | undefined)[] = [];
  const applyOutput = (e: ChangeEvent) => {
    headers.push(e.headers);
    const key = JSON.stringify(e.key);
    if (!e.value) return;
    if (e.value.op === 'd') {
      expect(view.get(key)).toEqual(e.value.before);
      view.delete(key);
    } else {
      expect(view.get(key) ?? null).toEqual(e.value.before);
      view.set(key, e.value.after!);
    }
  };
  const resolvers = (await instances(resolved!, partitions.output)).map((task) => ({
    task,
    queue: [] as Queued[],
    route: applyOutput,
  }));
  const matchers = (await instances(matched!, partitions.joinKey)).map((task) => ({
    task,
    queue: [] as Queued[],
    route: (e: ChangeEvent) =>
      resolvers[partitionOf(e.key, partitions.output, next)]!.queue.push({ event: e, input: 'j.matched' }),
  }));
  const repartitioners = (await instances(byKey!, partitions.left)).map((task) => ({
    task,
    queue: [] as Queued[],
    route: (e: ChangeEvent) =>
      matchers[partitionOf(e.key, partitions.joinKey, next)]!.queue.push({
        event: e,
        input: 'j.by-join-key',
      }),
  }));
  stages.push(...repartitioners, ...matchers, ...resolvers);

  const runSome = async () => {
    const busy = stages.filter((s) => s.queue.length > 0);
    if (busy.length === 0) return false;
    const stage = busy[next(busy.length)]!;
    // A batch holds records of one input, as a polled batch of one partition does.
    const input = stage.queue[0]!.input;
    let size = 1 + next(4);
    const batch: ChangeEvent[] = [];
    while (size-- > 0 && stage.queue[0]?.input === input) batch.push(stage.queue.shift()!.event);
    for (const out of await stage.task.process(batch, input)) stage.route(out);
    return true;
  };
  return {
    left: (e: ChangeEvent) =>
      repartitioners[partitionOf(e.key, partitions.left, next)]!.queue.push({ event: e, input: orders.name }),
    right: (e: ChangeEvent) =>
      matchers[partitionOf(e.key, partitions.joinKey, next)]!.queue.push({ event: e, input: customers.name }),
    runSome,
    drain: async () => {
      while (await runSome());
    },
    view,
    headers,
    next,
    /** How many left rows the match instances keep, in all. */
    keptLeftRows: () =>
      states.get('matched')!.reduce((n, state) => n + [...state.entries('L\u0000')].length, 0),
  };
}

describe('partitioned join', () => {
  for (const kind of ['inner', 'left'] as const) {
    for (const seed of [1, 2, 3, 4, 5]) {
      it(`${kind} join: whatever the order its partitions run in, its changes build the join of the final tables (seed ${seed})`, async () => {
        const j = await partitionedJoin({ on, kind, prefix: 'c_', fields: ['name'] }, seed);
        const { next } = j;
        const history = shopHistory(next, 1000);
        for (const { table, event } of history.changes) {
          if (table === 'orders') j.left(event);
          else j.right(event);
          while (next(2) === 0) await j.runSome();
        }
        await j.drain();
        const { orderRows } = history;
        expect(Object.fromEntries(j.view)).toEqual(expectedJoin(history, kind));
        // A row that moved to another join key is forgotten where it was: each live row is kept once (but one
        // with a null join key, which no right row can reach).
        expect(j.keptLeftRows()).toBe([...orderRows.values()].filter((o) => o.customer_id !== null).length);
        // The output carries no internal header.
        expect(j.headers.filter((h) => h?.[JOIN_VERSION_HEADER] !== undefined)).toEqual([]);
      });
    }
  }

  it('plans its parts with the stage’s output schemas, stateful per partition, the repartition keyed as the right input', () => {
    const [byKey, matched, resolved] = partsOf({ on, prefix: 'c_', fields: ['name'] });
    const whole = joinProcessor.plan(
      [orders, customers],
      parseConfig(joinProcessor.config, { on, prefix: 'c_', fields: ['name'] }),
    );
    expect(byKey!.plan.keySchema).toEqual(customers.keySchema);
    expect(byKey!.partitionsLike).toBe(1);
    expect(resolved!.plan.keySchema).toEqual(whole.keySchema);
    expect(resolved!.plan.valueSchema).toEqual(whole.valueSchema);
    for (const part of [byKey, matched, resolved]) {
      expect(part!.plugin.stateful).toBe(true);
      expect(part!.plan.perPartition).toBe(true);
    }
  });

  it('runs as one processor unless asked, and refuses to split a windowed join', () => {
    expect(
      joinProcessor.expand!([orders, customers], parseConfig(joinProcessor.config, { on })),
    ).toBeUndefined();
    expect(() =>
      joinProcessor.plan(
        [orders, customers],
        parseConfig(joinProcessor.config, { on, partitioned: true, window: { withinMs: 1000 } }),
      ),
    ).toThrow(/a windowed join runs on one node at a time: remove "partitioned"/);
  });
});

describe('partitioned join: replays and lost state', () => {
  const config = { on, prefix: 'c_', fields: ['name'] };
  const ada = { id: 7, name: 'Ada', tier: 'gold' };
  /** One instance of each part, each with state of its own. */
  async function instances() {
    const [byKey, matched, resolved] = partsOf(config).map(async (part) =>
      part.plugin.create(part.config as never, await createTestContext({ inputs: part.inputs })),
    );
    return { byKey: await byKey!, matched: await matched!, resolved: await resolved! };
  }
  const version = (e: ChangeEvent) => Number(e.headers?.[JOIN_VERSION_HEADER]);
  /** The version the repartition part gave a change. */
  const versionOf = (e: ChangeEvent) => (e.value as unknown as { version: number }).version;

  it('does not apply a left change older than the row it holds (a dead letter replayed late)', async () => {
    const { byKey, matched } = await instances();
    await matched.process([change('customers', 'c', null, ada)], customers.name);
    const [first] = await byKey.process(
      [change('orders', 'c', null, { id: 1, customer_id: 7, amount: 10 })],
      orders.name,
    );
    const [second] = await byKey.process(
      [change('orders', 'u', null, { id: 1, customer_id: 7, amount: 20 })],
      orders.name,
    );
    await matched.process([second!], 'j.by-join-key');
    // The first change comes back from the dead-letter topic: nothing happens.
    expect(await matched.process([first!], 'j.by-join-key')).toEqual([]);
    // A later right change re-emits the row as it is, at its version: the resolve part takes it.
    const [renamed] = await matched.process(
      [change('customers', 'u', ada, { ...ada, name: 'Ada L.' })],
      customers.name,
    );
    expect(renamed!.value!.after).toEqual({ id: 1, customer_id: 7, amount: 20, c_name: 'Ada L.' });
    expect(version(renamed!)).toBe(versionOf(second!));
  });

  it('orders the images of one version by their number: a replayed one and a repeated one change nothing', async () => {
    const { byKey, matched, resolved } = await instances();
    await matched.process([change('customers', 'c', null, ada)], customers.name);
    const repartitioned = await byKey.process(
      [change('orders', 'c', null, { id: 1, customer_id: 7, amount: 10 })],
      orders.name,
    );
    const [created] = await matched.process(repartitioned, 'j.by-join-key');
    const [renamed] = await matched.process(
      [change('customers', 'u', ada, { ...ada, name: 'Ada L.' })],
      customers.name,
    );
    expect(version(created!)).toBe(version(renamed!));
    const out = await resolved.process([created!, renamed!, created!, renamed!], 'j.matched');
    expect(out.map((e) => `${e.value!.op} ${String(e.value!.after!['c_name'])}`)).toEqual([
      'c Ada',
      'u Ada L.',
    ]);
  });

  it('keeps image numbers growing when the match part starts over with empty state', async () => {
    const before = await instances();
    const after = await instances();
    const sequence = (e: ChangeEvent) => Number(e.headers?.[JOIN_SEQUENCE_HEADER]);
    await before.matched.process([change('customers', 'c', null, ada)], customers.name);
    const repartitioned = await before.byKey.process(
      [change('orders', 'c', null, { id: 1, customer_id: 7, amount: 10 })],
      orders.name,
    );
    await before.matched.process(repartitioned, 'j.by-join-key');
    let last: ChangeEvent | undefined;
    for (const name of ['Ada 1', 'Ada 2', 'Ada 3'])
      [last] = await before.matched.process(
        [change('customers', 'u', null, { ...ada, name })],
        customers.name,
      );
    // Rebuilt from its inputs: the same row at the same version, then a rename it must not lose.
    await new Promise((resolve) => setTimeout(resolve, 2));
    await after.matched.process(repartitioned, 'j.by-join-key');
    const [renamed] = await after.matched.process(
      [change('customers', 'c', null, { ...ada, name: 'Ada L.' })],
      customers.name,
    );
    expect(version(renamed!)).toBe(version(last!));
    expect(sequence(renamed!)).toBeGreaterThan(sequence(last!));
  });

  it("sends a truncate of the left input as a tombstone of each row it placed, to the row's join key", async () => {
    const { byKey } = await instances();
    const placed = await byKey.process(
      [
        change('orders', 'c', null, { id: 1, customer_id: 7, amount: 10 }),
        change('orders', 'c', null, { id: 2, customer_id: 8, amount: 20 }),
      ],
      orders.name,
    );
    const truncate = { key: null, value: { ...change('orders', 'c', null, null).value, op: 't' as const } };
    const gone = await byKey.process([truncate], orders.name);
    const summary = (e: ChangeEvent) => {
      const value = e.value as unknown as { key: Buffer; leave: boolean; change: unknown };
      return { joinKey: e.key, leftKey: value.key.toString('hex'), leave: value.leave, change: value.change };
    };
    expect(gone.map(summary)).toEqual(placed.map((e) => ({ ...summary(e), leave: false, change: null })));
  });

  it('keeps versions growing when the repartition part starts over with empty state', async () => {
    const before = await instances();
    const after = await instances();
    const [first] = await before.byKey.process(
      [change('orders', 'c', null, { id: 1, customer_id: 7, amount: 10 })],
      orders.name,
    );
    await new Promise((resolve) => setTimeout(resolve, 2));
    const [again] = await after.byKey.process(
      [change('orders', 'u', null, { id: 1, customer_id: 7, amount: 20 })],
      orders.name,
    );
    expect(versionOf(again!)).toBeGreaterThan(versionOf(first!));
  });
});
