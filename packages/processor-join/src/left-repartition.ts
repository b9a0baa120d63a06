import type { AvroRecordSchema, AvroType, ChangeEvent, Envelope, Row, StateStore } from '@datamesh/core';
import { leftColumnsOf, type JoinLayout } from './join-plan.js';
import { fromStored, toStored, tupleText } from './stored-value.js';

/** A left row as the repartition part keeps it: the join key it was sent to (null: a null join column). */
interface Placement {
  readonly joinKey: unknown;
  /** The left key, Avro-encoded in base64 (for a truncate, which names no key). */
  readonly key: string | null;
}

const PLACEMENT = 'K\u0000';
/** The last version given to a change: one counter per instance, as every change of a left key passes one. */
const SEQUENCE = 'S';

/**
 * The version after `last`: one more, or the clock in 1/1024 ms if that is ahead. Anchored to the clock, versions
 * keep growing across a loss of this part's state (its changelog deleted, the group reset) and across a move of a
 * left key to another instance (a changed key schema or partition count), where a bare counter would start below
 * versions the resolve part already holds and every later change would be dropped. 1024 × ms stays below 2^53.
 */
function nextVersion(last: number): number {
  return Math.max(last + 1, Date.now() * 1024);
}

/** A repartitioned left change, as the match part reads it. */
export interface RepartitionedChange {
  /** The left key, in the left key's Avro encoding (its schema may repeat named types of the row's). */
  readonly key: Buffer | null;
  readonly version: number;
  /** The row moved to another join key: its old partition forgets it. */
  readonly leave: boolean;
  /** The left change; null for a tombstone (and a leave). */
  readonly change: Envelope | null;
}

export function repartitionedSchema(layout: JoinLayout, leftValueSchema: AvroRecordSchema): AvroRecordSchema {
  return {
    type: 'record',
    name: 'Repartitioned',
    namespace: `${leftValueSchema.namespace ?? leftValueSchema.name}_join`,
    doc: `A change of ${layout.left.name}, sent to the partition of its join key`,
    fields: [
      { name: 'key', type: ['null', 'bytes'] },
      { name: 'version', type: 'long' },
      { name: 'leave', type: 'boolean' },
      { name: 'change', type: ['null', leftValueSchema] },
    ],
  } as AvroRecordSchema;
}

/**
 * The first part of a partitioned join: sends each left change to the partition of its join key, keyed by the join
 * key in the right input's key schema (so equal keys are equal bytes, in equal partition numbers), numbered with a
 * version that grows with every change of the row. A row whose join key changed is also sent to its old join key,
 * as a leave. A left row whose join column is null goes with no key: no right row can reach it, so where it is
 * joined does not matter.
 *
 * State: the join key each left row was last sent to, and the version counter.
 */
export class LeftRepartition {
  private readonly layout: JoinLayout;
  private readonly state: StateStore;
  private readonly leftKeyType: AvroType;
  /** The right key columns each left join column fills, in the order of `on`. */
  private readonly keyColumns: readonly { readonly left: string; readonly right: string }[];

  constructor(layout: JoinLayout, state: StateStore, leftKeyType: AvroType) {
    this.layout = layout;
    this.state = state;
    this.leftKeyType = leftKeyType;
    this.keyColumns = layout.left.joinColumns.map((left, i) => ({
      left,
      right: layout.right.joinColumns[i]!,
    }));
  }

  async process(events: readonly ChangeEvent[]): Promise<ChangeEvent[]> {
    const out: ChangeEvent[] = [];
    let version = this.state.get<number>(SEQUENCE) ?? 0;
    const firstVersion = version;
    for (const event of events) {
      if (event.value?.op === 't') {
        // A truncate deletes the rows this instance sent; it reaches the instance of the partition it was written to.
        for (const [stored, placement] of [...this.state.entries(PLACEMENT)]) {
          const { key } = placement as Placement;
          version = nextVersion(version);
          out.push(
            this.record(
              this.joinKeyOf(placement as Placement),
              key === null ? null : Buffer.from(key, 'base64'),
              version,
              false,
              null,
            ),
          );
          await this.state.delete(stored);
        }
        continue;
      }
      const keyText = tupleText([event.key]);
      const placement = this.state.get<Placement>(PLACEMENT + keyText);
      const row = event.value?.after ?? null;
      if (!row && !placement) continue; // a delete of a row never seen: nothing was joined
      const joinKey = row ? this.joinKeyRecord(row) : this.joinKeyOf(placement!);
      const keyBytes = event.key === null ? null : this.leftKeyType.toBuffer(event.key);
      version = nextVersion(version);
      if (row && placement && placement.joinKey !== null) {
        const old = this.joinKeyOf(placement);
        if (tupleText([old]) !== tupleText([joinKey]))
          out.push(this.record(old, keyBytes, version, true, null));
      }
      out.push(this.record(joinKey, keyBytes, version, false, event.value && this.complete(event.value)));
      if (row) {
        await this.state.put(PLACEMENT + keyText, {
          joinKey: joinKey === null ? null : toStored(joinKey),
          key: keyBytes === null ? null : keyBytes.toString('base64'),
        } satisfies Placement);
      } else await this.state.delete(PLACEMENT + keyText);
    }
    if (version !== firstVersion) await this.state.put(SEQUENCE, version);
    return out;
  }

  /** A repartitioned change: `key` is the left key, Avro-encoded. */
  private record(
    joinKey: Row | null,
    key: Buffer | null,
    version: number,
    leave: boolean,
    change: Envelope | null,
  ): ChangeEvent {
    const value: RepartitionedChange = { key, version, leave, change };
    // The runtime encodes the value with the part's output schema; it is a record, not an envelope.
    return { key: joinKey, value: value as unknown as Envelope };
  }

  /** The join key as a record of the right input's key, or null when a join column is null (it matches nothing). */
  private joinKeyRecord(row: Row): Row | null {
    const record: Row = {};
    for (const { left, right } of this.keyColumns) {
      const value = row[left];
      if (value === null || value === undefined) return null;
      record[right] = value;
    }
    return record;
  }

  private joinKeyOf(placement: Placement): Row | null {
    return placement.joinKey === null ? null : (fromStored(placement.joinKey) as Row);
  }

  /**
   * The change with every column of the left schema the plan saw (one written before a column was added lacks it).
   * Its before image is left out: the join takes a row's previous image from its state.
   */
  private complete(value: Envelope): Envelope {
    return { ...value, before: null, after: value.after && leftColumnsOf(this.layout, value.after) };
  }
}
