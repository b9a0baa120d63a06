import { isDeepStrictEqual } from 'node:util';
import type { ChangeEvent, Envelope, Row, SourceInfo, StateStore } from '@datamesh/core';
import type { JoinLayout } from './join-plan.js';
import { fromStored, toStored, tupleText } from './stored-value.js';

type Side = 'left' | 'right';

/** A row of one input as stored: key, row image, `source`, its time, and (left rows) its unmatched output. */
interface Occurrence {
  readonly key: unknown;
  readonly row: unknown;
  readonly source: unknown;
  readonly t: number;
  readonly joinKey?: string;
  /** Left join: the row's output with null right columns was emitted (its window closed unmatched). */
  readonly unmatchedOut?: boolean;
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
/** `P\0<time>\0<left key>`: left rows of a left join waiting for their window to close unmatched. */
const PENDING = 'P\u0000';
/** `X\0<time>\0<side>\0<key>`: rows by time, to drop them once nothing in time can match them any more. */
const EXPIRY = 'X\u0000';
const CLOCK = 'T';

const other = (side: Side): Side => (side === 'left' ? 'right' : 'left');
/** Times as fixed-width text, so keys sort by time. */
const timeText = (t: number) => String(Math.max(0, Math.trunc(t))).padStart(16, '0');

/**
 * A join of two change streams in a time window: the output holds a row for every pair of a left row and a right
 * row whose join columns are equal and whose times (of their latest change) are at most `withinMs` apart, keyed
 * by both rows' keys. A change of a row replaces its pairs: pairs that stay are updated, new ones created, lost
 * ones deleted (with a tombstone). In a left join, a left row that found no right row by the time its window
 * closed (the stream's time passed its time + withinMs + graceMs) is output with null right columns; a right row
 * matching it later replaces that row.
 *
 * Stream time is the highest row time seen. A change older than stream time − withinMs − graceMs is late and
 * dropped (counted). Rows older than stream time − 2·withinMs − graceMs can match nothing that is not late, so
 * they leave the state; pairs already output stay (a later change of such a row starts it afresh).
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
        for (const [stored] of [...this.state.entries(AT[side])]) {
          await this.change(side, stored.slice(AT[side].length), null, value, out);
        }
        continue;
      }
      const t = this.window.time === 'source' ? value.source.ts_ms : value.ts_ms;
      const clock = this.clock();
      if (t < clock - this.window.withinMs - this.window.graceMs) {
        this.onLate();
        continue;
      }
      const row = value.after;
      await this.change(side, tupleText([event.key]), row && { key: event.key, row, t }, value, out);
      if (t > clock) await this.advance(t, value, out);
    }
    return out;
  }

  /** Replaces the row under `key` of one side (null: deletes it) and emits how its pairs changed. */
  private async change(
    side: Side,
    key: string,
    next: { key: Row | null; row: Row; t: number } | null,
    value: Envelope,
    out: ChangeEvent[],
  ): Promise<void> {
    const previous = this.occurrence(side, key);
    const before = previous ? this.pairsOf(side, key, previous) : new Map<string, Pair>();
    // The left rows the change may have matched or unmatched: a right change moves their unmatched status.
    const touched = new Set(side === 'right' ? [...before.values()].map((p) => tupleText([p.leftKey])) : []);
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
        ...(previous?.unmatchedOut ? { unmatchedOut: true } : {}),
      };
      await this.remember(side, key, occurrence);
      after = this.pairsOf(side, key, occurrence);
      if (side === 'right') for (const p of after.values()) touched.add(tupleText([p.leftKey]));
      if (side === 'left' && this.layout.kind === 'left') {
        after = await this.withUnmatched(key, occurrence, after);
      }
    }
    this.emit(before, after, value, out);
    for (const leftKey of touched) await this.recheckUnmatched(leftKey, value, out);
  }

  /**
   * A left row of a left join with no pairs: output unmatched when its window closed already (or its join
   * columns are null, so nothing can ever match), else left pending until it closes.
   */
  private async withUnmatched(key: string, occurrence: Occurrence, pairs: Map<string, Pair>) {
    const matched = [...pairs.values()].some((p) => p.rightKey !== null);
    if (matched) {
      if (occurrence.unmatchedOut) await this.remember('left', key, { ...occurrence, unmatchedOut: false });
      return pairs;
    }
    if (occurrence.unmatchedOut || occurrence.joinKey === undefined || this.closed(occurrence.t)) {
      await this.remember('left', key, { ...occurrence, unmatchedOut: true });
      const unmatched = this.unmatchedPair(occurrence);
      return new Map([[pairId(unmatched), unmatched]]);
    }
    await this.state.put(`${PENDING}${timeText(occurrence.t)}\u0000${key}`, 1);
    return pairs;
  }

  /** After a right change: a left row that gained a pair loses its unmatched output, one that lost all regains it. */
  private async recheckUnmatched(leftKey: string, value: Envelope, out: ChangeEvent[]) {
    if (this.layout.kind !== 'left') return;
    const occurrence = this.occurrence('left', leftKey);
    if (!occurrence) return;
    const matched = [...this.pairsOf('left', leftKey, occurrence).values()].some((p) => p.rightKey !== null);
    const unmatched = this.unmatchedPair(occurrence);
    if (matched && occurrence.unmatchedOut) {
      await this.remember('left', leftKey, { ...occurrence, unmatchedOut: false });
      this.emit(new Map([[pairId(unmatched), unmatched]]), new Map(), value, out);
    } else if (!matched && !occurrence.unmatchedOut) {
      if (this.closed(occurrence.t)) {
        await this.remember('left', leftKey, { ...occurrence, unmatchedOut: true });
        this.emit(new Map(), new Map([[pairId(unmatched), unmatched]]), value, out);
      } else {
        await this.state.put(`${PENDING}${timeText(occurrence.t)}\u0000${leftKey}`, 1);
      }
    }
  }

  /** Moves stream time on: closes the windows that ended (unmatched left rows out) and drops rows too old to match. */
  private async advance(t: number, value: Envelope, out: ChangeEvent[]): Promise<void> {
    await this.state.put(CLOCK, t);
    const { withinMs, graceMs } = this.window;
    for (const [stored] of [...this.state.entries(PENDING)]) {
      const [time, key] = stored.slice(PENDING.length).split('\u0000') as [string, string];
      if (Number(time) + withinMs + graceMs >= t) break;
      await this.state.delete(stored);
      const occurrence = this.occurrence('left', key);
      if (!occurrence || occurrence.unmatchedOut || occurrence.t !== Number(time)) continue;
      if ([...this.pairsOf('left', key, occurrence).values()].some((p) => p.rightKey !== null)) continue;
      await this.remember('left', key, { ...occurrence, unmatchedOut: true });
      const unmatched = this.unmatchedPair(occurrence);
      this.emit(new Map(), new Map([[pairId(unmatched), unmatched]]), value, out);
    }
    for (const [stored] of [...this.state.entries(EXPIRY)]) {
      const [time, side, key] = stored.slice(EXPIRY.length).split('\u0000') as [string, Side, string];
      if (Number(time) >= t - 2 * withinMs - graceMs) break;
      const occurrence = this.occurrence(side, key);
      if (occurrence && occurrence.t === Number(time)) await this.forget(side, key, occurrence);
      else await this.state.delete(stored);
    }
  }

  /** The pairs a row of `side` is in now: rows of the other side with its join key, within the window. */
  private pairsOf(side: Side, key: string, occurrence: Occurrence): Map<string, Pair> {
    const pairs = new Map<string, Pair>();
    if (occurrence.joinKey === undefined) return pairs;
    const prefix = `${BY[other(side)]}${occurrence.joinKey}\u0000`;
    for (const [indexed] of [...this.state.entries(prefix)]) {
      const partnerKey = indexed.slice(prefix.length);
      const partner = this.occurrence(other(side), partnerKey);
      if (!partner || Math.abs(partner.t - occurrence.t) > this.window.withinMs) continue;
      const [left, right] = side === 'left' ? [occurrence, partner] : [partner, occurrence];
      const pair = this.pair(left, right);
      pairs.set(pairId(pair), pair);
    }
    if (side === 'left' && occurrence.unmatchedOut && pairs.size === 0) {
      const unmatched = this.unmatchedPair(occurrence);
      pairs.set(pairId(unmatched), unmatched);
    }
    return pairs;
  }

  private pair(left: Occurrence, right: Occurrence): Pair {
    const leftRow = fromStored(left.row) as Row;
    const rightRow = fromStored(right.row) as Row;
    const row: Row = {};
    for (const { name, missing } of this.layout.left.columns)
      row[name] = name in leftRow ? leftRow[name] : missing;
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
    const leftRow = fromStored(left.row) as Row;
    const row: Row = {};
    for (const { name, missing } of this.layout.left.columns)
      row[name] = name in leftRow ? leftRow[name] : missing;
    for (const { to } of this.layout.right.copied) row[to] = null;
    return {
      leftKey: fromStored(left.key) as Row,
      rightKey: null,
      row,
      source: fromStored(left.source) as SourceInfo,
    };
  }

  /** Emits the change from one set of pairs to another: updates, creates, and deletes followed by tombstones. */
  private emit(before: Map<string, Pair>, after: Map<string, Pair>, value: Envelope, out: ChangeEvent[]) {
    for (const [id, old] of before) {
      const now = after.get(id);
      if (now && isDeepStrictEqual(now.row, old.row)) continue;
      const key = this.outputKey(old);
      const source = now?.source ?? old.source;
      out.push({
        key,
        value: { before: old.row, after: now?.row ?? null, source, op: now ? 'u' : 'd', ts_ms: value.ts_ms },
      });
      if (!now) out.push({ key, value: null });
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
    }
  }

  private outputKey(pair: Pair): Row {
    const key: Row = { ...pair.leftKey };
    for (const { from, to } of this.layout.right.keyFields)
      key[to] = pair.rightKey ? (pair.rightKey[from] ?? null) : null;
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

  private clock(): number {
    return this.state.get<number>(CLOCK) ?? Number.NEGATIVE_INFINITY;
  }

  /** True once stream time passed the end of a window starting at `t` (and its grace). */
  private closed(t: number): boolean {
    return t + this.window.withinMs + this.window.graceMs < this.clock();
  }

  private joinKey(row: Row, side: Side): string | undefined {
    const columns = side === 'left' ? this.layout.left.joinColumns : this.layout.right.joinColumns;
    const values = columns.map((c) => row[c]);
    return values.some((v) => v === null || v === undefined) ? undefined : tupleText(values);
  }
}

function pairId(pair: Pair): string {
  return tupleText([pair.leftKey, pair.rightKey]);
}
