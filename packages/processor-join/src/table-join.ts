import { isDeepStrictEqual } from 'node:util';
import type { ChangeEvent, Envelope, Operation, Row, SourceInfo, StateStore } from '@datamesh/core';
import { leftColumnsOf, type JoinLayout } from './join-plan.js';
import { fromStored, toStored, tupleText } from './stored-value.js';

/** A left row as stored: its key, row image and `source` block, as they last arrived. */
interface LeftEntry {
  readonly key: unknown;
  readonly row: unknown;
  readonly source: unknown;
}

const LEFT = 'L\u0000';
const RIGHT = 'R\u0000';
/** `I\0<join key>\0<left key>`: the left rows that refer to a right key. */
const INDEX = 'I\u0000';

/**
 * A join of a stream of left rows with a table of right rows, kept as a materialised view: the output is a
 * change stream, keyed by the left key, whose rows always equal the SQL join of the current left and right rows.
 *
 * - A left change is joined with the current right row of its join key. The output's `before` is the left row's
 *   previous joined image (from state, not from the event, which may carry no full before image).
 * - A right change re-emits every left row that refers to it: an update changes their right columns, a delete
 *   removes them from an inner join (or nulls their right columns in a left join), an insert adds the left rows
 *   that were waiting for it to an inner join.
 * - A left row whose join columns are null, or that has no right row, is in a left join's output only.
 * - Every output delete is followed by a tombstone, so a compacted output topic forgets the row. An input
 *   tombstone deletes its key, as its delete did (a reader of a compacted input may see only the tombstone).
 *
 * State: left rows by key, right rows by join key, and an index from join key to the left keys referring to it.
 * Replaying input over state that already holds it re-emits the same rows: the view converges.
 */
export class TableJoin {
  private readonly layout: JoinLayout;
  private readonly state: StateStore;
  /** True when the right input's `source` block has the left's shape, so it can be passed on as it is. */
  private readonly rightSourceFits: boolean;

  constructor(layout: JoinLayout, state: StateStore, rightSourceFits: boolean) {
    this.layout = layout;
    this.state = state;
    this.rightSourceFits = rightSourceFits;
  }

  async process(events: readonly ChangeEvent[], input: string): Promise<ChangeEvent[]> {
    const out: ChangeEvent[] = [];
    const side =
      input === this.layout.left.name ? 'left' : input === this.layout.right.name ? 'right' : undefined;
    if (!side) {
      throw new Error(
        `join got events from "${input}", which is neither its left input "${this.layout.left.name}" nor its right "${this.layout.right.name}"`,
      );
    }
    for (const event of events) {
      if (event.value === null) {
        // A tombstone usually follows the delete that carried the change, and then finds nothing to remove. A
        // reader of a compacted input that fell behind may see only the tombstone: the row is gone all the same.
        if (side === 'left') await this.leftTombstone(event.key, out);
        else await this.rightTombstone(event.key, out);
        continue;
      }
      if (side === 'left') await this.leftChange(event, event.value, out);
      else await this.rightChange(event, event.value, out);
    }
    return out;
  }

  private async leftChange(event: ChangeEvent, value: Envelope, out: ChangeEvent[]): Promise<void> {
    if (value.op === 't') {
      for (const [stored, entry] of [...this.state.entries(LEFT)]) {
        await this.dropLeft(stored.slice(LEFT.length), entry as LeftEntry, value, out);
      }
      return;
    }
    const leftKey = tupleText([event.key]);
    const previous = this.state.get<LeftEntry>(LEFT + leftKey);
    const previousRow = previous ? (fromStored(previous.row) as Row) : null;
    const oldJoinKey = previousRow ? this.joinKey(previousRow, this.layout.left.joinColumns) : undefined;
    const row = value.after;
    const newJoinKey = row ? this.joinKey(row, this.layout.left.joinColumns) : undefined;
    if (oldJoinKey !== undefined && oldJoinKey !== newJoinKey) {
      await this.state.delete(`${INDEX}${oldJoinKey}\u0000${leftKey}`);
    }
    if (newJoinKey !== undefined && newJoinKey !== oldJoinKey) {
      await this.state.put(`${INDEX}${newJoinKey}\u0000${leftKey}`, 1);
    }
    if (row) {
      await this.state.put(LEFT + leftKey, {
        key: toStored(event.key),
        row: toStored(row),
        source: toStored(value.source),
      } satisfies LeftEntry);
    } else {
      await this.state.delete(LEFT + leftKey);
    }
    const before = previousRow ? this.joined(previousRow, this.rightRow(oldJoinKey)) : null;
    const after = row ? this.joined(row, this.rightRow(newJoinKey)) : null;
    emit(out, event.key, before, after, value.source, value.ts_ms, value.op === 'r' ? 'r' : 'c');
  }

  private async leftTombstone(key: Row | null, out: ChangeEvent[]): Promise<void> {
    const leftKey = tupleText([key]);
    const entry = this.state.get<LeftEntry>(LEFT + leftKey);
    if (!entry) return;
    const source = fromStored(entry.source) as SourceInfo;
    await this.dropLeft(
      leftKey,
      entry,
      { before: null, after: null, source, op: 'd', ts_ms: Date.now() },
      out,
    );
  }

  private async rightTombstone(key: Row | null, out: ChangeEvent[]): Promise<void> {
    const joinKey = key ? this.joinKey(key, this.layout.right.joinColumns) : undefined;
    if (joinKey === undefined || this.rightRow(joinKey) === null) return;
    await this.replaceRight(joinKey, null, undefined, Date.now(), out);
  }

  /** A left row leaves (a truncate of the left input): its joined row is deleted. */
  private async dropLeft(leftKey: string, entry: LeftEntry, value: Envelope, out: ChangeEvent[]) {
    const row = fromStored(entry.row) as Row;
    const joinKey = this.joinKey(row, this.layout.left.joinColumns);
    if (joinKey !== undefined) await this.state.delete(`${INDEX}${joinKey}\u0000${leftKey}`);
    await this.state.delete(LEFT + leftKey);
    const before = this.joined(row, this.rightRow(joinKey));
    emit(out, fromStored(entry.key) as Row, before, null, value.source, value.ts_ms, 'c');
  }

  private async rightChange(event: ChangeEvent, value: Envelope, out: ChangeEvent[]): Promise<void> {
    const columns = this.layout.right.joinColumns;
    if (value.op === 't') {
      for (const [stored] of [...this.state.entries(RIGHT)]) {
        await this.replaceRight(stored.slice(RIGHT.length), null, value.source, value.ts_ms, out);
      }
      return;
    }
    // The key a delete (or a key-changing update) leaves: from `before`, which always carries the key
    // columns, or from the event key.
    const oldJoinKey = value.before
      ? this.joinKey(value.before, columns)
      : event.key
        ? this.joinKey(event.key, columns)
        : undefined;
    const newJoinKey = value.after ? this.joinKey(value.after, columns) : undefined;
    if (oldJoinKey !== undefined && oldJoinKey !== newJoinKey) {
      await this.replaceRight(oldJoinKey, null, value.source, value.ts_ms, out);
    }
    if (newJoinKey !== undefined) {
      await this.replaceRight(newJoinKey, value.after, value.source, value.ts_ms, out);
    }
  }

  /**
   * Sets the right row of a join key and re-emits the left rows that refer to it, where they changed. `source` is
   * the right change's (none for a tombstone).
   */
  private async replaceRight(
    joinKey: string,
    row: Row | null,
    source: SourceInfo | undefined,
    ts_ms: number,
    out: ChangeEvent[],
  ) {
    const previous = this.rightRow(joinKey);
    if (row) await this.state.put(RIGHT + joinKey, toStored(row));
    else await this.state.delete(RIGHT + joinKey);
    const prefix = `${INDEX}${joinKey}\u0000`;
    for (const [indexed] of [...this.state.entries(prefix)]) {
      const entry = this.state.get<LeftEntry>(LEFT + indexed.slice(prefix.length));
      if (!entry) continue;
      const left = fromStored(entry.row) as Row;
      const before = this.joined(left, previous);
      const after = this.joined(left, row);
      if (isDeepStrictEqual(before, after)) continue;
      emit(
        out,
        fromStored(entry.key) as Row,
        before,
        after,
        this.sourceFor(entry, source, ts_ms),
        ts_ms,
        'c',
      );
    }
  }

  /** The `source` of an output row a right change caused, in the left input's shape. */
  private sourceFor(entry: LeftEntry, rightSource: SourceInfo | undefined, ts_ms: number): SourceInfo {
    if (rightSource && this.rightSourceFits) return rightSource;
    return { ...(fromStored(entry.source) as SourceInfo), ts_ms: rightSource?.ts_ms ?? ts_ms };
  }

  private rightRow(joinKey: string | undefined): Row | null {
    if (joinKey === undefined) return null;
    const stored = this.state.get(RIGHT + joinKey);
    return stored === undefined ? null : (fromStored(stored) as Row);
  }

  /** The output row for a left row and its right row (null: none), or null when an inner join drops it. */
  private joined(left: Row, right: Row | null): Row | null {
    if (!right && this.layout.kind === 'inner') return null;
    const row = leftColumnsOf(this.layout, left);
    for (const { from, to } of this.layout.right.copied) row[to] = right ? (right[from] ?? null) : null;
    return row;
  }

  /** The join key of a row, or undefined when a join column is null (it matches nothing, as in SQL). */
  private joinKey(row: Row, columns: readonly string[]): string | undefined {
    const values = columns.map((c) => row[c]);
    return values.some((v) => v === null || v === undefined) ? undefined : tupleText(values);
  }
}

/**
 * Emits the change from one joined image to another: nothing when the row was and stays absent, a create, an
 * update, or a delete followed by a tombstone.
 */
function emit(
  out: ChangeEvent[],
  key: Row | null,
  before: Row | null,
  after: Row | null,
  source: SourceInfo,
  ts_ms: number,
  created: Extract<Operation, 'c' | 'r'>,
): void {
  if (before === null && after === null) return;
  const op: Operation = before === null ? created : after === null ? 'd' : 'u';
  out.push({ key, value: { before, after, source, op, ts_ms } });
  if (op === 'd') out.push({ key, value: null });
}
