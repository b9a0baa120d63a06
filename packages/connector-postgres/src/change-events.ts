import type { ChangeEvent, Envelope, Operation, Row, SourceBatchEvent } from '@datamesh/core';
import type { Tuple } from './pgoutput-decoder.js';
import type { TableStream } from './table-stream.js';

/** Where a change happened: the transaction and the LSN of the change. */
export interface ChangeOrigin {
  readonly lsn: bigint;
  /**
   * The commit LSN of the change's transaction (for snapshot rows: of the high watermark's). Unlike `lsn` it
   * follows commit order, so it orders every change of a row: the version a search index can keep.
   */
  readonly commitLsn: bigint;
  readonly txId: number | null;
  /** Commit time (ms since epoch) for log changes; read time for snapshot rows. */
  readonly tsMs: number;
  /** `false` for log changes; `true` / `incremental` for snapshot rows. */
  readonly snapshot: string;
}

export interface EventContext {
  /** The source's stage name, `source.name` of every event. */
  readonly name: string;
  readonly database: string;
  readonly tombstones: boolean;
}

/** A row decoded from a tuple, and the columns the server left out (unchanged TOASTed values). */
export interface DecodedRow {
  readonly row: Row;
  readonly unchanged: readonly number[];
}

/**
 * Decodes a tuple into an Avro row. An unchanged TOASTed column takes its value from `previous` (the old
 * row that REPLICA IDENTITY FULL sends) when there is one; otherwise it is listed in `unchanged` for the
 * caller to resolve — it is never emitted as a silent null.
 */
export function decodeRow(stream: TableStream, tuple: Tuple, previous?: Tuple | null): DecodedRow {
  const row: Row = {};
  const unchanged: number[] = [];
  stream.columns.forEach((column, i) => {
    let value = tuple[i];
    if (value?.kind === 'unchanged' && previous?.[i] && previous[i].kind !== 'unchanged') value = previous[i];
    if (value === undefined || value.kind === 'null') row[column.field] = null;
    else if (value.kind === 'unchanged') {
      row[column.field] = null;
      unchanged.push(i);
    } else row[column.field] = decodeColumn(stream, i, value.text);
  });
  return { row, unchanged };
}

/** A key-only old tuple (REPLICA IDENTITY DEFAULT) decoded as a row whose other columns are null. */
export function decodeKeyRow(stream: TableStream, tuple: Tuple): Row {
  const row: Row = {};
  stream.columns.forEach((column, i) => {
    const value = tuple[i];
    row[column.field] = value?.kind === 'text' ? decodeColumn(stream, i, value.text) : null;
  });
  return row;
}

export function keyOf(stream: TableStream, row: Row): Row {
  const key: Row = {};
  for (const i of stream.keyIndexes) {
    const field = stream.columns[i]!.field;
    key[field] = row[field];
  }
  return key;
}

/** The key as comparable text (the server's text form of each key column), for matching snapshot rows. */
export function keyTextOf(stream: TableStream, tuple: Tuple): string | undefined {
  const parts: string[] = [];
  for (const i of stream.keyIndexes) {
    const value = tuple[i];
    if (value?.kind !== 'text') return undefined;
    parts.push(value.text);
  }
  return JSON.stringify(parts);
}

export function envelopeEvent(
  stream: TableStream,
  context: EventContext,
  origin: ChangeOrigin,
  op: Operation,
  key: Row,
  before: Row | null,
  after: Row | null,
  headers?: Record<string, string>,
): SourceBatchEvent {
  const value: Envelope = {
    before,
    after,
    source: {
      connector: 'postgresql',
      name: context.name,
      ts_ms: origin.tsMs,
      snapshot: origin.snapshot,
      db: context.database,
      schema: stream.schema,
      table: stream.table,
      lsn: Number(origin.lsn),
      commitLsn: Number(origin.commitLsn),
      txId: origin.txId,
    },
    op,
    ts_ms: Date.now(),
  };
  const event: ChangeEvent = headers ? { key, value, headers } : { key, value };
  return { stream: stream.name, event };
}

/** A delete, followed by a tombstone when the source emits them. */
export function deleteEvents(
  stream: TableStream,
  context: EventContext,
  origin: ChangeOrigin,
  before: Row,
  headers?: Record<string, string>,
): SourceBatchEvent[] {
  const key = keyOf(stream, before);
  const events = [envelopeEvent(stream, context, origin, 'd', key, before, null, headers)];
  if (context.tombstones) events.push({ stream: stream.name, event: { key, value: null } });
  return events;
}

export function truncateEvent(
  stream: TableStream,
  context: EventContext,
  origin: ChangeOrigin,
): SourceBatchEvent {
  const event = envelopeEvent(stream, context, origin, 't', {}, null, null);
  return { stream: stream.name, event: { key: null, value: event.event.value } };
}

function decodeColumn(stream: TableStream, index: number, text: string): unknown {
  const column = stream.columns[index]!;
  try {
    return column.mapping.decode(text);
  } catch (error) {
    throw new Error(`${stream.name}.${column.name}: ${(error as Error).message}`, { cause: error });
  }
}
