import { describe, expect, it } from 'vitest';
import { OrderGenerator, toEvent, type GeneratedChange } from './order-generator.js';

const options = { seed: 42, keys: 20, deleteRatio: 0.2 };

function take(generator: OrderGenerator, n: number): GeneratedChange[] {
  return Array.from({ length: n }, () => generator.next());
}

describe('OrderGenerator', () => {
  it('is deterministic: the same seed gives the same changes', () => {
    expect(take(new OrderGenerator(options), 500)).toEqual(take(new OrderGenerator(options), 500));
  });

  it('gives different changes for a different seed', () => {
    expect(take(new OrderGenerator({ ...options, seed: 43 }), 50)).not.toEqual(
      take(new OrderGenerator(options), 50),
    );
  });

  it('continues after skipTo(n) exactly as a generator that produced the first n changes', () => {
    for (const n of [0, 1, 37, 250]) {
      const uninterrupted = new OrderGenerator(options);
      take(uninterrupted, n);
      const resumed = new OrderGenerator(options);
      resumed.skipTo(n);
      expect(resumed.position).toBe(n);
      expect(take(resumed, 100)).toEqual(take(uninterrupted, 100));
    }
  });

  it('never moves backwards on skipTo', () => {
    const generator = new OrderGenerator(options);
    take(generator, 10);
    generator.skipTo(5);
    expect(generator.position).toBe(10);
  });

  it('follows each order through its life: created, updated with its previous row, deleted, created again', () => {
    const rows = new Map<number, Record<string, unknown>>();
    for (const change of take(new OrderGenerator(options), 2_000)) {
      const id = change.key.id;
      expect(id).toBeGreaterThanOrEqual(1);
      expect(id).toBeLessThanOrEqual(options.keys);
      const current = rows.get(id);
      if (current === undefined) {
        expect(change).toMatchObject({ op: 'c', before: null, after: { id, version: 0 } });
      } else {
        expect(change.op).not.toBe('c');
        expect(change.before).toEqual(current);
      }
      if (change.after === null) rows.delete(id);
      else rows.set(id, change.after);
    }
  });

  it('produces deletes at about the configured ratio', () => {
    const changes = take(new OrderGenerator({ ...options, keys: 5, deleteRatio: 0.5 }), 2_000);
    const ofExisting = changes.filter((c) => c.op !== 'c').length;
    const deletes = changes.filter((c) => c.op === 'd').length;
    expect(deletes / ofExisting).toBeGreaterThan(0.4);
    expect(deletes / ofExisting).toBeLessThan(0.6);
    expect(take(new OrderGenerator({ ...options, deleteRatio: 0 }), 500).some((c) => c.op === 'd')).toBe(
      false,
    );
  });

  it('derives a row from the seed, id and version only', () => {
    const a = new OrderGenerator(options);
    const b = new OrderGenerator(options);
    take(b, 100);
    expect(a.row(7, 2)).toEqual(b.row(7, 2));
    expect(a.row(7, 2)).toMatchObject({
      id: 7,
      status: 'packed',
      version: 2,
      email: expect.stringMatching(/^[a-z]+\.7@example\.com$/),
    });
  });
});

describe('toEvent', () => {
  it('wraps a change in the envelope with its source block', () => {
    const change = new OrderGenerator(options).next();
    const event = toEvent(change, { name: 'orders-stage', ts: 1_700_000_000_000, seq: 1 });
    expect(event.key).toEqual(change.key);
    expect(event.value).toMatchObject({
      op: 'c',
      before: null,
      after: change.after,
      source: {
        connector: 'datagen',
        name: 'orders-stage',
        ts_ms: 1_700_000_000_000,
        snapshot: 'false',
        table: 'orders',
        seq: 1,
      },
    });
  });
});
