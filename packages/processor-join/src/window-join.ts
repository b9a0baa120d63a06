import { isDeepStrictEqual } from 'node:util';
import type { ChangeEvent, Envelope, Row, SourceInfo, StateStore } from '@datamesh/core';
import { leftColumnsOf, type JoinLayout } from './join-plan.js';
import { fromStored, toStored, tupleText } from './stored-value.js';

type Side = 'left' | 'right';

/** A live row of one input as stored: key, row image, `source`, its time and join key. */
interface Occurrence {
  readonly key: unknown;
  readonly row: unknown;
  readonly source: unknown;
  readonly t: number;
  readonly joinKey?: string;
}

/** One output row: a left row and a right row (or none, in a left join), joined. */
interface Pair {
  readonly leftKey: Row;
  readonly rightKey: Row | null;
  readonly row: Row;
  readonly source: SourceInfo;
}

const AT: Record<Side, string> = { left: 'l\u0000', right: 'r\u0000' };
const BY: Record<Side, string> = { left: 'L\u0000', right: 'R\u0000' };
/** `O\0<left key>\0<right key>`: the output rows as last emitted, so a change can always retract its pairs. */
const OUT = 'O\u0000';
/** `Q\0<right key>\0<left key>`: the output rows of a right row. */
const OUT_BY_RIGHT = 'Q\u0000';
/** `P\0<time>\0<left key>`: left rows of a left join waiting for their window to close unmatched. */
const PENDING = 'P\u0000';
/** `X\0<time>\0<side>\0<key>`: live rows by time, to drop them once nothing in time can match them. */
const EXPIRY = 'X\u0000';
const CLOCK: Record<Side, string> = { left: 'T\u0000left', right: 'T\u0000right' };
const STREAM_TIME = 'T\u0000stream';
const UNMATCHED = tupleText([null]);

const other = (side: Side): Side => (side === 'left' ? 'right' : 'left');
/** Times as fixed-width text, so keys sort by time. */
const timeText = (t: number) => String(Math.max(0, Math.trunc(t))).padStart(16, '0');

/**
 * A join of two change streams in a time window: the output holds a row for every pair of a left row and a right
 * row whose join columns are equal and whose times (of their latest change) are at most `withinMs` apart, keyed
 * by both rows' keys. A change of a row replaces its pairs: pairs that stay are updated, new ones created, lost
 * ones deleted (with a tombstone); the output rows are kept in state, so a change retracts exactly what was
 * emitted. In a left join, a left row that found no right row by the time its window closed is output with null
 * right columns; a right row matching it later replaces that row.
 *
 * Stream time is the lower of the two inputs' highest row times (never going back), so an input read ahead of
 * the other does not make the other's changes late; until both inputs had a change it stays put. A change older than stream time − withinMs − graceMs is late: dropped and
 * counted. A row older than stream time − 2·withinMs − graceMs can match no change that is not late, so it leaves
 * the state; its output rows stay until its partner changes or leaves too.
 */
export class WindowJoin {
  private readonly layout: JoinLayout;
  private readonly window: NonNullable<JoinLayout['window']>;
  private readonly state: StateStore;
  private readonly rightSourceFits: boolean;
  private readonly onLate: () => void;

  constructor(layout: JoinLayout, state: StateStore, rightSourceFits: boolean, onLate: () => void) {
    this.layout = layout;
    this.window = layout.window!;
    this.state = state;
    this.rightSourceFits = rightSourceFits;
    this.onLate = onLate;
  }

  async process(events: readonly ChangeEvent[], input: string): Promise<ChangeEvent[]> {
    const side: Side | undefined =
      input === this.layout.left.name ? 'left' : input === this.layout.right.name ? 'right' : undefined;
    if (!side) {
      throw new Error(
        `join got events from "${input}", which is neither its left input "${this.layout.left.name}" nor its right "${this.layout.right.name}"`,
      );
    }
    const out: ChangeEvent[] = [];
    for (const event of events) {
      const value = event.value;
      if (value === null) continue;
      if (value.op === 't') {
        const keys = Array.from(this.state.entries(AT[side]), ([stored]) => stored.slice(AT[side].length));
        for (const key of keys) await this.change(side, key, null, value, out);
        continue;
      }
      const t = this.window.time === 'source' ? value.source.ts_ms : value.ts_ms;
      if (t < this.streamTime() - this.window.withinMs - this.window.graceMs) {
        this.onLate();
        continue;
      }
      const row = value.after;
      await this.change(side, tupleText([event.key]), row && { key: event.key, row, t }, value, out);
      if (t > (this.state.get<number>(CLOCK[side]) ?? Number.NEGATIVE_INFINITY)) {
        await this.state.put(CLOCK[side], t);
        const left = this.state.get<number>(CLOCK.left) ?? Number.NEGATIVE_INFINITY;
        const right = this.state.get<number>(CLOCK.right) ?? Number.NEGATIVE_INFINITY;
        if (Math.min(left, right) > this.streamTime()) {
          await this.state.put(STREAM_TIME, Math.min(left, right));
          await this.advance(value, out);
        }
      }
    }
    return out;
  }

  /** Replaces the row under `key` of one side (null: deletes it) and emits how its output rows changed. */
  private async change(
    side: Side,
    key: string,
    next: { key: Row | null; row: Row; t: number } | null,
    value: Envelope,
    out: ChangeEvent[],
  ): Promise<void> {
    const previous = this.occurrence(side, key);
    const before = this.emittedOf(side, key);
    if (previous) await this.forget(side, key, previous);
    let after = new Map<string, Pair>();
    if (next) {
      const joinKey = this.joinKey(next.row, side);
      const occurrence: Occurrence = {
        key: toStored(next.key),
        row: toStored(next.row),
        source: toStored(value.source),
        t: next.t,
        ...(joinKey !== undefined ? { joinKey } : {}),
      };
      await this.remember(side, key, occurrence);
      after = this.livePairsOf(side, occurrence);
      if (side === 'left' && this.layout.kind === 'left' && after.size === 0) {
        if (joinKey === undefined || this.closed(occurrence.t)) {
          const unmatched = this.unmatchedPair(occurrence);
          after.set(pairId(unmatched), unmatched);
        } else {
          await this.state.put(`${PENDING}${timeText(occurrence.t)}\u0000${key}`, 1);
        }
      }
    }
    await this.emit(before, after, value, out);
    if (side === 'right' && this.layout.kind === 'left') {
      const touched = new Set([...before.values(), ...after.values()].map((p) => tupleText([p.leftKey])));
      for (const leftKey of touched) await this.recheckUnmatched(leftKey, value, out);
    }
  }

  /** After a right change: a left row that gained a pair loses its unmatched row; one that lost all regains it. */
  private async recheckUnmatched(leftKey: string, value: Envelope, out: ChangeEvent[]) {
    const occurrence = this.occurrence('left', leftKey);
    if (!occurrence) return;
    const emitted = this.emittedOf('left', leftKey);
    const matched = [...emitted.values()].some((p) => p.rightKey !== null);
    const unmatched = emitted.get(`${leftKey}\u0000${UNMATCHED}`);
    if (matched && unmatched)
      await this.emit(new Map([[pairId(unmatched), unmatched]]), new Map(), value, out);
    if (!matched && !unmatched) {
      if (occurrence.joinKey === undefined || this.closed(occurrence.t)) {
        const pair = this.unmatchedPair(occurrence);
        await this.emit(new Map(), new Map([[pairId(pair), pair]]), value, out);
      } else {
        await this.state.put(`${PENDING}${timeText(occurrence.t)}\u0000${leftKey}`, 1);
      }
    }
  }

  /** Stream time moved on: closes the windows that ended (unmatched left rows out) and drops rows too old to match. */
  private async advance(value: Envelope, out: ChangeEvent[]): Promise<void> {
    const now = this.streamTime();
    const { withinMs, graceMs } = this.window;
    // Read up to the first entry still open, then act: the store is not written while it is read.
    const closing = this.until(PENDING, (time) => time + withinMs + graceMs < now);
    for (const [stored, [time, key]] of closing) {
      await this.state.delete(stored);
      const occurrence = this.occurrence('left', key!);
      if (!occurrence || occurrence.t !== Number(time)) continue;
      const emitted = this.emittedOf('left', key!);
      if (emitted.size > 0) continue;
      const unmatched = this.unmatchedPair(occurrence);
      await this.emit(new Map(), new Map([[pairId(unmatched), unmatched]]), value, out);
    }
    const expiring = this.until(EXPIRY, (time) => time < now - 2 * withinMs - graceMs);
    for (const [stored, [time, side, key]] of expiring) {
      const occurrence = this.occurrence(side as Side, key!);
      if (occurrence && occurrence.t === Number(time)) await this.expire(side as Side, key!, occurrence);
      else await this.state.delete(stored);
    }
  }

  /** The entries of a time index from the oldest while `open` holds for their time, split into their parts. */
  private until(prefix: string, open: (time: number) => boolean): [string, string[]][] {
    const found: [string, string[]][] = [];
    for (const [stored] of this.state.entries(prefix)) {
      const parts = stored.slice(prefix.length).split('\u0000');
      if (!open(Number(parts[0]))) break;
      found.push([stored, parts]);
    }
    return found;
  }

  /**
   * A row leaves the state: it matches nothing any more. Its output rows whose other row is gone too become
   * final and leave the state; those with a live partner stay, for the partner's next change to retract.
   */
  private async expire(side: Side, key: string, occurrence: Occurrence): Promise<void> {
    await this.forget(side, key, occurrence);
    for (const pair of this.emittedOf(side, key).values()) {
      const partner =
        side === 'left'
          ? pair.rightKey && this.occurrence('right', tupleText([pair.rightKey]))
          : this.occurrence('left', tupleText([pair.leftKey]));
      if (!partner) await this.dropEmitted(pair);
    }
  }

  /** The output rows that involve a row, as emitted. */
  private emittedOf(side: Side, key: string): Map<string, Pair> {
    const pairs = new Map<string, Pair>();
    if (side === 'left') {
      for (const [stored, pair] of this.state.entries(`${OUT}${key}\u0000`)) {
        pairs.set(stored.slice(OUT.length), fromStored(pair) as Pair);
      }
      return pairs;
    }
    const prefix = `${OUT_BY_RIGHT}${key}\u0000`;
    const leftKeys = Array.from(this.state.entries(prefix), ([stored]) => stored.slice(prefix.length));
    for (const leftKey of leftKeys) {
      const stored = this.state.get(`${OUT}${leftKey}\u0000${key}`);
      if (stored !== undefined) pairs.set(`${leftKey}\u0000${key}`, fromStored(stored) as Pair);
    }
    return pairs;
  }

  /** The pairs a live row makes now: live rows of the other side with its join key, within the window. */
  private livePairsOf(side: Side, occurrence: Occurrence): Map<string, Pair> {
    const pairs = new Map<string, Pair>();
    if (occurrence.joinKey === undefined) return pairs;
    const prefix = `${BY[other(side)]}${occurrence.joinKey}\u0000`;
    const partnerKeys = Array.from(this.state.entries(prefix), ([stored]) => stored.slice(prefix.length));
    for (const partnerKey of partnerKeys) {
      const partner = this.occurrence(other(side), partnerKey);
      if (!partner || Math.abs(partner.t - occurrence.t) > this.window.withinMs) continue;
      const pair = side === 'left' ? this.pair(occurrence, partner) : this.pair(partner, occurrence);
      pairs.set(pairId(pair), pair);
    }
    return pairs;
  }

  private pair(left: Occurrence, right: Occurrence): Pair {
    const rightRow = fromStored(right.row) as Row;
    const row = this.leftColumns(left);
    for (const { from, to } of this.layout.right.copied) row[to] = rightRow[from] ?? null;
    const later = left.t >= right.t ? left : right;
    const source = fromStored(later.source) as SourceInfo;
    return {
      leftKey: fromStored(left.key) as Row,
      rightKey: fromStored(right.key) as Row,
      row,
      source:
        later === right && !this.rightSourceFits
          ? { ...(fromStored(left.source) as SourceInfo), ts_ms: source.ts_ms }
          : source,
    };
  }

  private unmatchedPair(left: Occurrence): Pair {
    const row = this.leftColumns(left);
    for (const { to } of this.layout.right.copied) row[to] = null;
    return {
      leftKey: fromStored(left.key) as Row,
      rightKey: null,
      row,
      source: fromStored(left.source) as SourceInfo,
    };
  }

  private leftColumns(left: Occurrence): Row {
    return leftColumnsOf(this.layout, fromStored(left.row) as Row);
  }

  /**
   * Emits the change from one set of output rows to another (updates, creates, and deletes followed by
   * tombstones) and keeps the state's copy of the output in step.
   */
  private async emit(
    before: Map<string, Pair>,
    after: Map<string, Pair>,
    value: Envelope,
    out: ChangeEvent[],
  ) {
    for (const [id, old] of before) {
      const now = after.get(id);
      if (now && isDeepStrictEqual(now.row, old.row)) continue;
      const key = this.outputKey(old);
      out.push({
        key,
        value: {
          before: old.row,
          after: now?.row ?? null,
          source: now?.source ?? old.source,
          op: now ? 'u' : 'd',
          ts_ms: value.ts_ms,
        },
      });
      if (now) await this.keepEmitted(now);
      else {
        out.push({ key, value: null });
        await this.dropEmitted(old);
      }
    }
    for (const [id, now] of after) {
      if (before.has(id)) continue;
      out.push({
        key: this.outputKey(now),
        value: {
          before: null,
          after: now.row,
          source: now.source,
          op: value.op === 'r' ? 'r' : 'c',
          ts_ms: value.ts_ms,
        },
      });
      await this.keepEmitted(now);
    }
  }

  private async keepEmitted(pair: Pair): Promise<void> {
    const [leftKey, rightKey] = [tupleText([pair.leftKey]), tupleText([pair.rightKey])];
    await this.state.put(`${OUT}${leftKey}\u0000${rightKey}`, toStored(pair));
    if (pair.rightKey) await this.state.put(`${OUT_BY_RIGHT}${rightKey}\u0000${leftKey}`, 1);
  }

  private async dropEmitted(pair: Pair): Promise<void> {
    const [leftKey, rightKey] = [tupleText([pair.leftKey]), tupleText([pair.rightKey])];
    await this.state.delete(`${OUT}${leftKey}\u0000${rightKey}`);
    if (pair.rightKey) await this.state.delete(`${OUT_BY_RIGHT}${rightKey}\u0000${leftKey}`);
  }

  private outputKey(pair: Pair): Row {
    const key: Row = { ...pair.leftKey };
    for (const { from, to } of this.layout.right.keyFields) {
      key[to] = pair.rightKey ? (pair.rightKey[from] ?? null) : null;
    }
    return key;
  }

  private async remember(side: Side, key: string, occurrence: Occurrence): Promise<void> {
    await this.state.put(AT[side] + key, occurrence);
    if (occurrence.joinKey !== undefined)
      await this.state.put(`${BY[side]}${occurrence.joinKey}\u0000${key}`, 1);
    await this.state.put(`${EXPIRY}${timeText(occurrence.t)}\u0000${side}\u0000${key}`, 1);
  }

  private async forget(side: Side, key: string, occurrence: Occurrence): Promise<void> {
    await this.state.delete(AT[side] + key);
    if (occurrence.joinKey !== undefined)
      await this.state.delete(`${BY[side]}${occurrence.joinKey}\u0000${key}`);
    await this.state.delete(`${EXPIRY}${timeText(occurrence.t)}\u0000${side}\u0000${key}`);
    if (side === 'left') await this.state.delete(`${PENDING}${timeText(occurrence.t)}\u0000${key}`);
  }

  private occurrence(side: Side, key: string): Occurrence | undefined {
    return this.state.get<Occurrence>(AT[side] + key);
  }

  /**
   * The highest the lower of the inputs' highest row times has been: an input read ahead of the other does not
   * make the other's changes late. Until both inputs had a change, and while one gets none, it stays put.
   */
  private streamTime(): number {
    return this.state.get<number>(STREAM_TIME) ?? Number.NEGATIVE_INFINITY;
  }

  /** True once stream time passed the end of a window starting at `t` (and its grace). */
  private closed(t: number): boolean {
    return t + this.window.withinMs + this.window.graceMs < this.streamTime();
  }

  private joinKey(row: Row, side: Side): string | undefined {
    const columns = side === 'left' ? this.layout.left.joinColumns : this.layout.right.joinColumns;
    const values = columns.map((c) => row[c]);
    return values.some((v) => v === null || v === undefined) ? undefined : tupleText(values);
  }
}

function pairId(pair: Pair): string {
  return `${tupleText([pair.leftKey])}\u0000${tupleText([pair.rightKey])}`;
}
