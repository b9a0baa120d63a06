import { describe, expect, it } from 'vitest';
import { AppendGate } from './append-gate.js';

/** A promise and the function that resolves it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('AppendGate', () => {
  it('lets shared holders run side by side and an exclusive one alone, after them', async () => {
    const gate = new AppendGate();
    const log: string[] = [];
    const first = latch();
    const second = latch();
    const a = gate.shared(async () => {
      log.push('a starts');
      await first.promise;
      log.push('a ends');
    });
    const b = gate.shared(async () => {
      log.push('b starts');
      await second.promise;
      log.push('b ends');
    });
    const x = gate.exclusive(async () => log.push('x runs'));
    await tick();
    expect(log).toEqual(['a starts', 'b starts']);
    first.open();
    await a;
    await tick();
    expect(log).toEqual(['a starts', 'b starts', 'a ends']);
    second.open();
    await Promise.all([b, x]);
    expect(log).toEqual(['a starts', 'b starts', 'a ends', 'b ends', 'x runs']);
  });

  it('makes shared holders that come after a waiting exclusive one wait for it', async () => {
    const gate = new AppendGate();
    const log: string[] = [];
    const held = latch();
    const a = gate.shared(async () => {
      await held.promise;
      log.push('a');
    });
    const x = gate.exclusive(async () => {
      await tick();
      log.push('x');
    });
    const b = gate.shared(async () => log.push('b'));
    const c = gate.shared(async () => log.push('c'));
    await tick();
    expect(log).toEqual([]);
    held.open();
    await Promise.all([a, x, b, c]);
    expect(log).toEqual(['a', 'x', 'b', 'c']);
  });

  it('releases the gate when an action throws', async () => {
    const gate = new AppendGate();
    await expect(gate.exclusive(async () => Promise.reject(new Error('disk full')))).rejects.toThrow(
      'disk full',
    );
    await expect(gate.shared(async () => 'went through')).resolves.toBe('went through');
  });
});
