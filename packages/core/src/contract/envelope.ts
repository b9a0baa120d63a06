/**
 * The change-event envelope, in the shape the CDC ecosystem already knows (Debezium's):
 * `before` / `after` row images, a `source` block saying where the change came from, the
 * operation and the time the connector processed it.
 */
export type Operation = 'c' | 'u' | 'd' | 'r' | 't';

export const OPERATIONS: readonly Operation[] = ['c', 'u', 'd', 'r', 't'];

export type Row = Record<string, unknown>;

/** Where a change came from. Connectors add their own fields (lsn, txId, file, pos, …). */
export interface SourceInfo {
  readonly connector: string;
  readonly name: string;
  /** When the change happened in the source system (ms since epoch). */
  readonly ts_ms: number;
  /** `"true"`, `"first"`, `"last"`, `"false"`, `"incremental"` — lowercase strings, as on the wire. */
  readonly snapshot: string;
  readonly db?: string | null;
  readonly schema?: string | null;
  readonly table?: string | null;
  readonly [field: string]: unknown;
}

export interface Envelope<R extends Row = Row> {
  readonly before: R | null;
  readonly after: R | null;
  readonly source: SourceInfo;
  readonly op: Operation;
  /** When the connector processed the change (ms since epoch); `ts_ms - source.ts_ms` is the lag. */
  readonly ts_ms: number;
}

/** A keyed change event. A `null` value is a tombstone (the key was deleted, for compaction). */
export interface ChangeEvent<K extends Row = Row, R extends Row = Row> {
  readonly key: K | null;
  readonly value: Envelope<R> | null;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The row state an event leaves behind: `after`, or null for deletes and tombstones. */
export function rowState<R extends Row>(event: ChangeEvent<Row, R>): R | null {
  return event.value?.after ?? null;
}

export function isTombstone(event: ChangeEvent): boolean {
  return event.value === null;
}
