import { isDeepStrictEqual } from 'node:util';
import type { ChangeEvent, Envelope, Operation, Row, SourceInfo, StateStore } from '@datamesh/core';
import { leftColumnsOf, type JoinLayout } from './join-plan.js';
import { fromStored, toStored, tupleText } from './stored-value.js';

/** A left row as stored: its key, row image and `source` block, as they last arrived. */
interface LeftEntry {
  readonly key: unknown;
  readonly row: unknown;
  readonly source: unknown;
  /** Partitioned joins: the version of the left row, as the repartition part numbered its change. */
  readonly v?: number;
}

/** The header carrying the version of a partitioned join's output image: its left row's version. */
export const JOIN_VERSION_HEADER = 'datamesh.join.version';
/**
 * The header ordering a partitioned join's images of one version: they all come from the partition holding the row
 * at that version, numbered in the order it emitted them (a replayed dead letter comes late, with its old number).
 */
export const JOIN_SEQUENCE_HEADER = 'datamesh.join.sequence';

/** Partitioned: the number of the last image this partition emitted. */
const SEQUENCE = 'S';

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
 *
 * Partitioned (`images`), it is the middle part of a join split by the join key: its left rows come repartitioned,
 * each change numbered with a version, and it emits versioned images of output rows rather than changes — the
 * image of a left row after each of its changes (also when that is no row), and after a right change that alters
 * it. The resolve part turns them into changes, dropping images older than one it has (of a left row whose join
 * key moved to another partition). A left row whose join key is null is not kept: no right row can reach it.
 */
export class TableJoin {
  private readonly layout: JoinLayout;
  private readonly state: StateStore;
  /** True when the right input's `source` block has the left's shape, so it can be passed on as it is. */
  private readonly rightSourceFits: boolean;

  /** Partitioned: emits versioned images (see above) instead of changes. */
  private readonly images: boolean;
  /** Partitioned: the number of the last image emitted, once read from state; saved by `saveSequence`. */
  private sequence: number | undefined;
  private savedSequence: number | undefined;

  constructor(layout: JoinLayout, state: StateStore, rightSourceFits: boolean, images = false) {
    this.layout = layout;
    this.state = state;
    this.rightSourceFits = rightSourceFits;
    this.images = images;
  }

  /**
   * Partitioned: a repartitioned left change. `change` null is a tombstone; `leave` says the row moved to another
   * join key's partition: it is forgotten here, with no output (its new partition emits its image).
   */
  async repartitioned(
    key: Row | null,
    version: number,
    change: Envelope | null,
    leave: boolean,
    out: ChangeEvent[],
  ): Promise<void> {
    const leftKey = tupleText([key]);
    const entry = this.state.get<LeftEntry>(LEFT + leftKey);
    // A change older than the row held here (a dead letter replayed late) is not applied over it: its image would
    // lose to newer ones, and the row's later images would carry its old version and lose too.
    if (entry?.v !== undefined && version < entry.v) return;
    if (leave || change === null) {
      if (entry) await this.forgetLeft(leftKey, entry);
      if (!leave) out.push({ key, value: null, headers: this.imageHeaders(version) });
      return;
    }
    await this.leftChange({ key, value: change }, change, out, version);
  }

  /** Partitioned: stores the number of the last image emitted; once per batch. */
  async saveSequence(): Promise<void> {
    if (this.sequence === undefined || this.sequence === this.savedSequence) return;
    await this.state.put(SEQUENCE, this.sequence);
    this.savedSequence = this.sequence;
  }

  private imageHeaders(version: number): Record<string, string> {
    this.sequence ??= this.savedSequence = this.state.get<number>(SEQUENCE) ?? 0;
    // Anchored to the clock, as versions are: after this part's state was lost and rebuilt, its images still number
    // above those the resolve part holds for a version.
    this.sequence = Math.max(this.sequence + 1, Date.now() * 1024);
    return { [JOIN_VERSION_HEADER]: String(version), [JOIN_SEQUENCE_HEADER]: String(this.sequence) };
  }

  private async forgetLeft(leftKey: string, entry: LeftEntry): Promise<void> {
    const joinKey = this.joinKey(fromStored(entry.row) as Row, this.layout.left.joinColumns);
    if (joinKey !== undefined) await this.state.delete(`${INDEX}${joinKey}\u0000${leftKey}`);
    await this.state.delete(LEFT + leftKey);
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
    if (this.images) await this.saveSequence();
    return out;
  }

  private async leftChange(
    event: ChangeEvent,
    value: Envelope,
    out: ChangeEvent[],
    version?: number,
  ): Promise<void> {
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
    // Partitioned, a row no right row can reach is not kept: its next change may go to another partition.
    const kept = row !== null && (version === undefined || newJoinKey !== undefined);
    if (kept) {
      await this.state.put(LEFT + leftKey, {
        key: toStored(event.key),
        row: toStored(row),
        source: toStored(value.source),
        ...(version === undefined ? {} : { v: version }),
      } satisfies LeftEntry);
    } else if (previous) {
      await this.state.delete(LEFT + leftKey);
    }
    const before = previousRow ? this.joined(previousRow, this.rightRow(oldJoinKey)) : null;
    const after = row ? this.joined(row, this.rightRow(newJoinKey)) : null;
    const created = value.op === 'r' ? 'r' : 'c';
    if (version !== undefined) {
      image(out, event.key, after, value.source, value.ts_ms, created, this.imageHeaders(version));
    } else emit(out, event.key, before, after, value.source, value.ts_ms, created);
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
    await this.forgetLeft(leftKey, entry);
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
      const key = fromStored(entry.key) as Row;
      const rowSource = this.sourceFor(entry, source, ts_ms);
      if (this.images) image(out, key, after, rowSource, ts_ms, 'c', this.imageHeaders(entry.v ?? 0));
      else emit(out, key, before, after, rowSource, ts_ms, 'c');
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

/** Emits a partitioned join's versioned image of an output row: its row, or a delete when there is none. */
function image(
  out: ChangeEvent[],
  key: Row | null,
  after: Row | null,
  source: SourceInfo,
  ts_ms: number,
  created: Extract<Operation, 'c' | 'r'>,
  headers: Record<string, string>,
): void {
  out.push({
    key,
    value: { before: null, after, source, op: after === null ? 'd' : created, ts_ms },
    headers,
  });
}

/**
 * Emits the change from one joined image to another: nothing when the row was and stays absent, a create, an
 * update, or a delete followed by a tombstone.
 */
export function emit(
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
