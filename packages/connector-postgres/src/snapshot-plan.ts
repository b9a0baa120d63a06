import type { Tuple } from './pgoutput-decoder.js';
import { qualifiedName, quoteIdent, type Queryable, type TableDefinition } from './table-catalog.js';

/**
 * A snapshot in progress, as it is stored in the source's position (so it resumes after a crash from the
 * last finished chunk). Keys are kept as the server's text form of each key column.
 */
export interface SnapshotPlan {
  /** `initial`, or the id of the signal that asked for it. */
  readonly id: string;
  /** `true` for the initial snapshot, `incremental` for one asked for while streaming (`source.snapshot`). */
  readonly flag: 'true' | 'incremental';
  readonly tables: readonly TableProgress[];
}

export interface TableProgress {
  /** `schema.table`. */
  readonly stream: string;
  /** Key of the last row of the last finished chunk; null before the first. */
  readonly after: readonly string[] | null;
  /** Only these keys, when the snapshot was asked for a set of keys; `keysDone` of them are finished. */
  readonly keys?: readonly (readonly string[])[];
  readonly keysDone?: number;
  readonly done: boolean;
  readonly rows: number;
  /** The planner's row estimate when the table was started (pg_class.reltuples), for progress. */
  readonly estimate: number;
}

export interface PlannedRequest {
  readonly id: string;
  readonly flag: SnapshotPlan['flag'];
  /** Streams to read; all captured ones when empty. */
  readonly streams: readonly string[];
  readonly keys?: readonly (readonly string[])[];
}

export function planSnapshot(request: PlannedRequest, estimates: ReadonlyMap<string, number>): SnapshotPlan {
  return {
    id: request.id,
    flag: request.flag,
    tables: request.streams.map((stream) => ({
      stream,
      after: null,
      ...(request.keys ? { keys: request.keys, keysDone: 0 } : {}),
      done: false,
      rows: 0,
      estimate: request.keys ? request.keys.length : (estimates.get(stream) ?? 0),
    })),
  };
}

/** The table a snapshot reads next, or undefined when it is finished. */
export function nextTable(plan: SnapshotPlan): TableProgress | undefined {
  return plan.tables.find((t) => !t.done);
}

export function withTableProgress(plan: SnapshotPlan, progress: TableProgress): SnapshotPlan {
  return { ...plan, tables: plan.tables.map((t) => (t.stream === progress.stream ? progress : t)) };
}

export interface Chunk {
  /** Rows in key order, as tuples of text values (what the log sends too). */
  readonly rows: readonly { readonly key: string; readonly tuple: Tuple }[];
  /** The progress once this chunk is emitted. */
  readonly next: TableProgress;
}

/**
 * Selects the next chunk of a table: rows whose key is greater than the last one read (a row-value
 * comparison, right for composite keys too), in key order, as text.
 */
export async function selectChunk(
  client: Queryable,
  table: TableDefinition,
  progress: TableProgress,
  chunkSize: number,
): Promise<Chunk> {
  // Plain columns read in text format: each value is its type's output, exactly what pgoutput sends (a cast
  // to text would differ for some types: bool::text is 'true', char(n)::text drops the padding).
  const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const keyColumns = table.primaryKey.map(quoteIdent).join(', ');
  const keyTypes = table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!.sqlType);
  const keyParams = (offset: number) => keyTypes.map((type, i) => `$${offset + i + 1}::${type}`).join(', ');
  let sql: string;
  let values: string[];
  let keysDone = progress.keysDone ?? 0;
  if (progress.keys) {
    const keys = progress.keys.slice(keysDone, keysDone + chunkSize);
    keysDone += keys.length;
    values = keys.flat();
    const tuples = keys.map((_, i) => `(${keyParams(i * keyTypes.length)})`).join(', ');
    sql =
      keys.length === 0
        ? 'SELECT 1 WHERE false'
        : `SELECT ${columns} FROM ${qualifiedName(table.schema, table.table)}
           WHERE (${keyColumns}) IN (${tuples}) ORDER BY ${keyColumns}`;
  } else {
    values = progress.after ? [...progress.after] : [];
    const where = progress.after ? `WHERE (${keyColumns}) > (${keyParams(0)})` : '';
    sql = `SELECT ${columns} FROM ${qualifiedName(table.schema, table.table)} ${where}
           ORDER BY ${keyColumns} LIMIT ${chunkSize}`;
  }
  const result = await client.query<unknown[]>({ text: sql, values, rowMode: 'array', types: TEXT_TYPES });
  const keyIndexes = table.primaryKey.map((k) => table.columns.findIndex((c) => c.name === k));
  const rows = result.rows.map((row) => {
    const tuple: Tuple = (row as (string | null)[]).map((v) =>
      v === null ? { kind: 'null' as const } : { kind: 'text' as const, text: v },
    );
    const keyParts = keyIndexes.map((i) => (row as string[])[i]!);
    return { key: JSON.stringify(keyParts), tuple };
  });
  const last = rows.length > 0 ? (JSON.parse(rows[rows.length - 1]!.key) as string[]) : progress.after;
  const done = progress.keys ? keysDone >= progress.keys.length : rows.length < chunkSize;
  return {
    rows,
    next: {
      ...progress,
      after: last,
      ...(progress.keys ? { keysDone } : {}),
      done,
      rows: progress.rows + rows.length,
    },
  };
}

/** Every value as the text the server sent. */
export const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/** Row estimates of tables (pg_class.reltuples; -1 before the first ANALYZE counts as unknown). */
export async function estimateRows(client: Queryable, oids: readonly number[]): Promise<Map<number, number>> {
  const { rows } = await client.query<{ oid: number; estimate: number }>(
    'SELECT oid::int AS oid, greatest(reltuples, 0)::float8 AS estimate FROM pg_class WHERE oid = ANY($1::oid[])',
    [oids],
  );
  return new Map(rows.map((r) => [Number(r.oid), Math.round(Number(r.estimate))]));
}
