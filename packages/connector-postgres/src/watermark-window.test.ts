import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WatermarkWindow } from './watermark-window.js';

// A model of a table, its commit log and a consumer running the watermark algorithm over it, driven by random
// interleavings of writes, log processing and chunk selections. Two invariants of DBLog are checked:
//   1. no gap: once the snapshot finished and the log is drained, the sink holds exactly the table;
//   2. no overwrite of history: a chunk row, when emitted at its high watermark, equals the row as the log
//      stands at that watermark (it never brings back an older value or a deleted row).

type Write = { kind: 'upsert'; key: number; value: number } | { kind: 'delete'; key: number };
type LogEntry = { kind: 'change'; write: Write } | { kind: 'watermark'; token: string };
type Step =
  | { kind: 'write'; write: Write }
  | { kind: 'process'; count: number }
  | { kind: 'chunk'; writesAfterLow: Write[]; processedBeforeSelect: number; writesAfterSelect: Write[] };

const KEYS = 12;
const write = fc.oneof(
  fc.record({ kind: fc.constant('upsert' as const), key: fc.nat(KEYS - 1), value: fc.nat(1000) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.nat(KEYS - 1) }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), write }),
  fc.record({ kind: fc.constant('process' as const), count: fc.integer({ min: 1, max: 5 }) }),
  fc.record({
    kind: fc.constant('chunk' as const),
    writesAfterLow: fc.array(write, { maxLength: 3 }),
    // The consumer may read the log, low watermark included, before the chunk's SELECT returns.
    processedBeforeSelect: fc.nat(6),
    writesAfterSelect: fc.array(write, { maxLength: 3 }),
  }),
);

function simulate(initial: ReadonlyMap<number, number>, steps: readonly Step[], chunkSize: number): void {
  const table = new Map(initial);
  const log: LogEntry[] = [];
  /** The table as it was right after each log entry (index i: after entry i). */
  const history: Map<number, number>[] = [];
  const sink = new Map<number, number>();
  let processed = 0;
  let window: WatermarkWindow<{ key: number; value: number }> | undefined;
  let lastKey = -1;
  let snapshotDone = false;
  let tokens = 0;

  const commit = (entry: LogEntry) => {
    if (entry.kind === 'change') {
      if (entry.write.kind === 'upsert') table.set(entry.write.key, entry.write.value);
      else table.delete(entry.write.key);
    }
    log.push(entry);
    history.push(new Map(table));
  };
  const processOne = () => {
    const entry = log[processed];
    if (!entry) return;
    if (entry.kind === 'change') {
      window?.onChange('t', [String(entry.write.key)]);
      if (entry.write.kind === 'upsert') sink.set(entry.write.key, entry.write.value);
      else sink.delete(entry.write.key);
    } else if (window && window.onWatermark(entry.token) === 'closed') {
      const asOfHigh = history[processed]!;
      for (const { key, value } of window.survivors()) {
        expect(asOfHigh.get(key), `chunk row ${key} at its high watermark`).toBe(value);
        sink.set(key, value);
      }
      window = undefined;
    }
    processed++;
  };
  const selectChunk = (): [number, number][] =>
    [...table.entries()]
      .filter(([k]) => k > lastKey)
      .sort((a, b) => a[0] - b[0])
      .slice(0, chunkSize);
  const startChunk = (writesAfterLow: Write[], processedBeforeSelect: number, writesAfterSelect: Write[]) => {
    const low = `w${tokens++}`;
    const high = `w${tokens++}`;
    const opened = new WatermarkWindow<{ key: number; value: number }>('t', low, high);
    window = opened;
    commit({ kind: 'watermark', token: low });
    for (const w of writesAfterLow) commit({ kind: 'change', write: w });
    for (let i = 0; i < processedBeforeSelect; i++) processOne();
    const rows = selectChunk();
    opened.setRows(rows.map(([key, value]) => [String(key), { key, value }] as const));
    for (const w of writesAfterSelect) commit({ kind: 'change', write: w });
    commit({ kind: 'watermark', token: high });
    if (rows.length < chunkSize) snapshotDone = true;
    else lastKey = rows[rows.length - 1]![0];
  };

  for (const s of steps) {
    if (s.kind === 'write') commit({ kind: 'change', write: s.write });
    else if (s.kind === 'process') for (let i = 0; i < s.count; i++) processOne();
    else if (!window && !snapshotDone)
      startChunk(s.writesAfterLow, s.processedBeforeSelect, s.writesAfterSelect);
  }
  // Finish: drain the log, and run the remaining chunks without interference.
  for (;;) {
    while (processed < log.length) processOne();
    if (snapshotDone && !window) break;
    if (!window) startChunk([], 0, []);
  }
  expect([...sink.entries()].sort((a, b) => a[0] - b[0])).toEqual(
    [...table.entries()].sort((a, b) => a[0] - b[0]),
  );
}

describe('watermark window (DBLog)', () => {
  it('leaves no gap and never overwrites a newer change, under random interleavings', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(KEYS - 1), { maxLength: KEYS }),
        fc.array(step, { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        (keys, steps, chunkSize) => {
          simulate(new Map(keys.map((k) => [k, -k])), steps, chunkSize);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('ignores tokens of other windows and drops rows changed inside the window only', () => {
    const window = new WatermarkWindow('t', 'low', 'high', [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
    ]);
    window.onChange('t', ['1']); // before the low watermark: the SELECT saw it
    expect(window.onWatermark('stale-from-an-earlier-run')).toBe('ignored');
    expect(window.onWatermark('low')).toBe('opened');
    window.onChange('other', ['2']); // another table's key 2
    window.onChange('t', [undefined, '3']);
    expect(window.onWatermark('high')).toBe('closed');
    expect(window.survivors()).toEqual(['a', 'b']);
  });

  it('fails closed on its own tokens out of order', () => {
    const window = new WatermarkWindow('t', 'low', 'high', []);
    expect(() => window.onWatermark('high')).toThrow(/before its low watermark/);
    window.onWatermark('low');
    expect(() => window.onWatermark('low')).toThrow(/seen twice/);
  });

  it('clears the chunk on a truncate inside the window', () => {
    const window = new WatermarkWindow('t', 'low', 'high', [['1', 'a']]);
    window.onWatermark('low');
    window.onTruncate('t');
    window.onWatermark('high');
    expect(window.survivors()).toEqual([]);
  });
});
