import { randomUUID } from 'node:crypto';
import pg from 'pg';
import {
  defineSource,
  TaskHaltedError,
  type PluginContext,
  type Position,
  type Row,
  type SourceBatch,
  type SourceBatchEvent,
  type SourceTask,
  type StreamDeclaration,
} from '@datamesh/core';
import {
  decodeKeyRow,
  decodeRow,
  deleteEvents,
  envelopeEvent,
  keyOf,
  keyTextOf,
  truncateEvent,
  type ChangeOrigin,
  type EventContext,
} from './change-events.js';
import { postgresConfig, type PostgresConfig } from './config.js';
import {
  formatLsn,
  parseLsn,
  POSTGRES_EPOCH_MICROS,
  type PgOutputMessage,
  type Tuple,
} from './pgoutput-decoder.js';
import { PgTypeCatalog } from './pg-type-catalog.js';
import { ReplicationStream, type StreamItem } from './replication-stream.js';
import {
  estimateRows,
  nextTable,
  planSnapshot,
  selectChunk,
  TEXT_TYPES,
  withTableProgress,
  type SnapshotPlan,
  type PlannedRequest,
} from './snapshot-plan.js';
import { prepareSource, SIGNAL_TABLE, WATERMARK_TABLE } from './source-setup.js';
import {
  loadTable,
  qualifiedName,
  quoteIdent,
  resolveTables,
  type TableDefinition,
} from './table-catalog.js';
import { buildTableStream, shapeSignature, streamName, type TableStream } from './table-stream.js';
import type { TypeMappingOptions } from './type-mapping.js';
import { WatermarkWindow } from './watermark-window.js';

/** The position a Postgres source resumes from (stored with its events). */
interface PostgresPosition extends Position {
  /** End LSN of the last transaction whose changes are all written; streaming resumes after it. */
  readonly lsn: string;
  /** A transaction written in part: its first `emitted` changes are skipped when it is sent again. */
  readonly tx?: { readonly finalLsn: string; readonly emitted: number };
  /** Snapshots asked for and not finished, the running one first. */
  readonly snapshots?: readonly SnapshotPlan[];
}

/** How long a read waits for changes before it answers with nothing (or with a new position only). */
const POLL_MS = 500;

/** Every session reads values in the forms the type mapping parses. */
const SESSION_OPTIONS =
  '-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex';

export function connectionConfig(config: PostgresConfig): pg.ClientConfig {
  return {
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(config.ssl
      ? {
          ssl: {
            rejectUnauthorized: config.ssl.rejectUnauthorized,
            ...(config.ssl.ca ? { ca: config.ssl.ca } : {}),
          },
        }
      : {}),
    options: SESSION_OPTIONS,
    application_name: 'datamesh',
    connectionTimeoutMillis: 10_000,
  };
}

function mappingOptions(config: PostgresConfig): TypeMappingOptions {
  return {
    decimalHandling: config.decimalHandling,
    unknownTypes: config.unknownTypes,
    toastPlaceholder: config.toastPlaceholder,
    hstore: 'map',
  };
}

/** Reads the captured tables from the catalog and builds their streams. */
async function loadStreams(client: pg.Client, config: PostgresConfig) {
  const oids = await resolveTables(client, config.tables);
  const types = new PgTypeCatalog((sql, params) => client.query(sql, params));
  const tables: TableDefinition[] = [];
  for (const oid of oids) tables.push(await loadTable(client, oid));
  await types.load(tables.flatMap((t) => t.columns.map((c) => c.typeOid)));
  const streams = tables.map((t) => buildTableStream(t, config.database, types, mappingOptions(config)));
  return { tables, streams, types };
}

async function connect(config: PostgresConfig): Promise<pg.Client> {
  const client = new pg.Client(connectionConfig(config));
  // A session the server ends fails the next query; the event itself needs a listener or it kills the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `cannot connect to Postgres at ${config.host}:${config.port} (database ${config.database}, user ${config.user}): ` +
        `${(error as Error).message}`,
      { cause: error },
    );
  }
  return client;
}

export const postgresSource = defineSource({
  name: 'postgres',
  version: '0.1.0',
  description:
    'Captures changes of Postgres tables over logical replication (pgoutput), with lock-free watermark snapshots.',
  config: postgresConfig,
  async streams(config): Promise<StreamDeclaration[]> {
    const client = await connect(config);
    try {
      const { streams } = await loadStreams(client, config);
      return streams.map((s) => ({
        name: s.name,
        description: `Changes of table ${s.name} in database ${config.database}.`,
        ...s.schemas,
      }));
    } finally {
      await client.end().catch(() => undefined);
    }
  },
  create: (config, ctx) => new PostgresSourceTask(config, ctx),
  async requestSnapshot(config, request) {
    const client = await connect(config);
    try {
      const { streams } = await loadStreams(client, config);
      const captured = streams.map((s) => s.name);
      const asked = request.streams ?? [];
      const unknown = asked.filter((s) => !captured.includes(s));
      if (unknown.length > 0) {
        throw new Error(
          `this source does not capture ${unknown.join(', ')}; it captures ${captured.join(', ')}`,
        );
      }
      if (request.keys && asked.length !== 1)
        throw new Error('a snapshot of given keys names exactly one table');
      const keyWidth = request.keys && streams.find((s) => s.name === asked[0])!.keyIndexes.length;
      const badKey = request.keys?.find((k) => k.length !== keyWidth);
      if (badKey) {
        throw new Error(
          `key ${JSON.stringify(badKey)} has ${badKey.length} value(s); ${asked[0]}'s key has ${keyWidth}`,
        );
      }
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO ${qualifiedName(config.controlSchema, SIGNAL_TABLE)} (slot_name, kind, payload)
         VALUES ($1, 'execute-snapshot', $2) RETURNING id::text AS id`,
        [config.slot, JSON.stringify({ tables: asked, ...(request.keys ? { keys: request.keys } : {}) })],
      );
      return { id: rows[0]!.id };
    } finally {
      await client.end().catch(() => undefined);
    }
  },
});

interface OpenTransaction {
  readonly xid: number;
  readonly finalLsn: bigint;
  readonly commitTimeMs: number;
  /** Change messages of this transaction seen so far. */
  changes: number;
}

type ControlKind = 'watermark' | 'signal';

class PostgresSourceTask implements SourceTask {
  private query!: pg.Client;
  private stream: ReplicationStream | undefined;
  private types!: PgTypeCatalog;
  /** Captured relations as the log describes them at the current position. */
  private readonly relations = new Map<number, TableStream>();
  /** The signature of the schemas last sent with each stream's events; another shape sends its schemas again. */
  private readonly announced = new Map<string, string>();
  /** Streams built from the catalog as it is now: what chunk SELECTs read. */
  private readonly catalogStreams = new Map<string, TableStream>();
  private readonly control = new Map<number, ControlKind>();
  private readonly tablesByStream = new Map<string, TableDefinition>();
  private capturedOids = new Set<number>();
  private readonly context: EventContext;
  /** End LSN of the last transaction fully processed (or the WAL end a keepalive confirmed). */
  private committedLsn = 0n;
  private tx: OpenTransaction | undefined;
  /** A partly written transaction to skip into on resume. */
  private resumeTx: { finalLsn: bigint; emitted: number } | undefined;
  private snapshots: SnapshotPlan[] = [];
  private window: WatermarkWindow<{ tuple: Tuple }> | undefined;
  /** The stream a chunk was read with, and the snapshot's progress once the chunk is emitted. */
  private windowChunk: { stream: TableStream; plan: SnapshotPlan } | undefined;
  private released: Position | undefined;
  private lastKeepaliveRequest = 0;
  private lastProgressLog = 0;
  /** Where this task began reading the current snapshot table (rows already done then), for the rate. */
  private progressStart: { table: string; at: number; rows: number } | undefined;
  private readonly snapshotRows;
  private readonly lagBytes;
  private readonly bufferedChanges;

  private readonly config: PostgresConfig;
  private readonly ctx: PluginContext;

  constructor(config: PostgresConfig, ctx: PluginContext) {
    this.config = config;
    this.ctx = ctx;
    this.context = { name: ctx.stage, database: config.database, tombstones: config.tombstones };
    this.snapshotRows = ctx.metrics.gauge('snapshot_rows', 'Rows read by the running snapshot, per table.', [
      'table',
    ]);
    this.bufferedChanges = ctx.metrics.gauge(
      'buffered_changes',
      'Changes received from the server and not yet read (bounded by maxBufferedBytes).',
    );
    this.lagBytes = ctx.metrics.gauge(
      'confirmed_lag_bytes',
      'WAL between the last change received and the last one confirmed to the slot.',
    );
  }

  async start(from: Position | undefined): Promise<void> {
    this.query = await connect(this.config);
    const { tables, types } = await loadStreams(this.query, this.config);
    this.types = types;
    for (const table of tables) {
      const problem = identityProblem(table.replicaIdentity, `${table.schema}.${table.table}`);
      if (problem) throw new Error(problem);
    }
    for (const table of tables) this.setDefinition(table);
    this.capturedOids = new Set(tables.map((t) => t.oid));
    const confirmed = await prepareSource(this.query, {
      slot: this.config.slot,
      publication: this.config.publication,
      createSlot: this.config.createSlot,
      createPublication: this.config.createPublication,
      controlSchema: this.config.controlSchema,
      tables: tables.map((t) => ({ oid: t.oid, name: qualifiedName(t.schema, t.table) })),
    });
    const position = from as PostgresPosition | undefined;
    this.committedLsn = parseLsn(position?.lsn ?? confirmed);
    if (position?.tx)
      this.resumeTx = { finalLsn: parseLsn(position.tx.finalLsn), emitted: position.tx.emitted };
    if (position) this.snapshots = [...(position.snapshots ?? [])];
    else if (this.config.snapshot.mode === 'initial') {
      this.snapshots = [
        await this.plan({ id: 'initial', flag: 'true', streams: [...this.tablesByStream.keys()] }),
      ];
    }
    this.released = from;
    this.stream = await this.openStream();
    this.ctx.logger.debug(
      { lsn: formatLsn(this.committedLsn), snapshots: this.snapshots.length },
      'postgres source started',
    );
  }

  private async openStream(): Promise<ReplicationStream> {
    try {
      return await ReplicationStream.open(connectionConfig(this.config), {
        slot: this.config.slot,
        publications: [this.config.publication],
        startLsn: this.committedLsn,
        statusIntervalMs: Math.min(this.config.heartbeatIntervalMs, 10_000),
        maxBufferedBytes: this.config.maxBufferedBytes,
      });
    } catch (error) {
      const message = (error as Error).message;
      if (/is active for PID/.test(message)) {
        throw new Error(
          `replication slot "${this.config.slot}" is in use by another connection (${message}): stop the other ` +
            'consumer, or give this source a slot of its own (config "slot")',
          { cause: error },
        );
      }
      throw error;
    }
  }

  private setDefinition(table: TableDefinition): void {
    const name = streamName(table.schema, table.table);
    this.tablesByStream.set(name, table);
    this.catalogStreams.set(
      name,
      buildTableStream(table, this.config.database, this.types, mappingOptions(this.config)),
    );
  }

  /** Whether a change's events will carry new schemas for their stream. */
  private announces(message: PgOutputMessage): boolean {
    const ids =
      message.tag === 'truncate'
        ? message.relationIds
        : message.tag === 'insert' || message.tag === 'update' || message.tag === 'delete'
          ? [message.relationId]
          : [];
    return ids.some((id) => {
      const stream = this.relations.get(id);
      return stream !== undefined && this.announced.get(stream.name) !== stream.signature;
    });
  }

  /** Adds an event, with its stream's schemas when they differ from the ones last sent for that stream. */
  private emit(stream: TableStream, event: SourceBatchEvent, events: SourceBatchEvent[]): void {
    if (this.announced.get(stream.name) === stream.signature) {
      events.push(event);
      return;
    }
    this.announced.set(stream.name, stream.signature);
    events.push({ ...event, schemas: stream.schemas });
  }

  async read(signal: AbortSignal): Promise<SourceBatch | undefined> {
    if (this.chunkStarting) {
      const starting = this.chunkStarting;
      this.chunkStarting = undefined;
      await starting;
    } else if (!this.window && this.snapshots.length > 0) await this.startChunk();
    const now = Date.now();
    if (now - this.lastKeepaliveRequest >= this.config.heartbeatIntervalMs) {
      this.lastKeepaliveRequest = now;
      this.stream!.requestKeepalive();
    }
    const events: SourceBatchEvent[] = [];
    const waitUntil = Date.now() + POLL_MS;
    // Items that make no event (the commit of a transaction read before, a keepalive) do not end the batch:
    // the runtime pauses after a batch without events, which would delay the next change.
    while (!signal.aborted) {
      if (this.backlog.length === 0) {
        const waitMs = Math.max(0, waitUntil - Date.now());
        this.backlog = await this.stream!.take(this.config.maxBatchSize, waitMs, signal).catch(
          (error: Error) => {
            throw this.explainStreamError(error);
          },
        );
        if (this.backlog.length === 0) break;
      }
      const cut = await this.processBacklog(events);
      if (cut || events.length > 0 || Date.now() >= waitUntil) break;
    }
    this.bufferedChanges.set(this.stream!.buffered().items + this.backlog.length);
    const position = this.position();
    const text = JSON.stringify(position);
    if (events.length === 0 && text === this.lastPositionText) return undefined;
    this.lastPositionText = text;
    return { events, position };
  }

  /** Turns received items into events; answers true when it stopped before a change that brings new schemas. */
  private async processBacklog(events: SourceBatchEvent[]): Promise<boolean> {
    let processed = 0;
    let cut = false;
    for (const item of this.backlog) {
      if (item.kind === 'keepalive') {
        if (!this.tx && item.walEnd > this.committedLsn) this.committedLsn = item.walEnd;
      } else {
        // A change that brings new schemas starts a batch of its own: if they are refused, the source halts
        // right before it, with every change before it written.
        if (events.length > 0 && this.announces(item.message)) {
          cut = true;
          break;
        }
        await this.handle(item.lsn, item.message, events);
      }
      processed++;
    }
    this.backlog = this.backlog.slice(processed);
    return cut;
  }

  async acknowledge(position: Position): Promise<void> {
    const lsn = (position as PostgresPosition).lsn;
    this.stream?.acknowledge(parseLsn(lsn));
    this.released = position;
    this.lagBytes.set(Number(this.committedLsn - parseLsn(lsn)));
  }

  async releasedPosition(): Promise<Position | undefined> {
    return this.released;
  }

  async stop(): Promise<void> {
    await this.chunkStarting?.catch(() => undefined);
    await this.stream?.close();
    if (this.stream) await this.awaitSlotReleased().catch(() => undefined);
    await this.query?.end().catch(() => undefined);
  }

  /** The server's walsender outlives our socket for a moment; a restart right away would find the slot busy. */
  private async awaitSlotReleased(): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const { rows } = await this.query.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [this.config.slot],
      );
      if (!rows[0]?.active) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private lastPositionText = '';
  /** The next snapshot chunk being prepared while the runtime writes the previous one. */
  private chunkStarting: Promise<void> | undefined;
  /** Received items not processed yet (a batch ends early at a schema change). */
  private backlog: StreamItem[] = [];

  /** Changes of transaction `finalLsn` already written before a restart. */
  private skipOf(finalLsn: bigint): number {
    return this.resumeTx?.finalLsn === finalLsn ? this.resumeTx.emitted : 0;
  }

  private position(): PostgresPosition {
    const snapshots = this.snapshots.length > 0 ? { snapshots: [...this.snapshots] } : {};
    // Until the partly written transaction is sent again, its skip count stays in the position: a position
    // stored meanwhile without it would write that transaction's first changes twice after a second crash.
    const partial =
      this.tx && this.tx.changes > 0
        ? { finalLsn: this.tx.finalLsn, emitted: Math.max(this.tx.changes, this.skipOf(this.tx.finalLsn)) }
        : this.resumeTx;
    const tx = partial ? { tx: { finalLsn: formatLsn(partial.finalLsn), emitted: partial.emitted } } : {};
    return { lsn: formatLsn(this.committedLsn), ...tx, ...snapshots };
  }

  private async handle(lsn: bigint, message: PgOutputMessage, events: SourceBatchEvent[]): Promise<void> {
    switch (message.tag) {
      case 'begin':
        this.tx = {
          xid: message.xid,
          finalLsn: message.finalLsn,
          commitTimeMs: Number((message.commitTimeMicros + POSTGRES_EPOCH_MICROS) / 1000n),
          changes: 0,
        };
        return;
      case 'commit':
        this.committedLsn = message.endLsn;
        this.tx = undefined;
        this.resumeTx = undefined;
        return;
      case 'relation':
        await this.onRelation(message);
        return;
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate': {
        const tx = this.tx;
        if (!tx) throw new Error(`a ${message.tag} arrived outside a transaction at ${formatLsn(lsn)}`);
        tx.changes++;
        if (this.resumeTx && this.resumeTx.finalLsn === tx.finalLsn && tx.changes <= this.resumeTx.emitted)
          return;
        const origin: ChangeOrigin = {
          lsn,
          commitLsn: tx.finalLsn,
          txId: tx.xid,
          tsMs: tx.commitTimeMs,
          snapshot: 'false',
        };
        if (message.tag === 'truncate') this.onTruncate(message.relationIds, origin, events);
        else await this.onRowChange(message, origin, events);
        return;
      }
      default:
        return; // type, origin and logical messages carry nothing to capture
    }
  }

  private async onRelation(message: Extract<PgOutputMessage, { tag: 'relation' }>): Promise<void> {
    const qualified = `${message.schema}.${message.table}`;
    if (message.schema === this.config.controlSchema) {
      if (message.table === WATERMARK_TABLE) this.control.set(message.relationId, 'watermark');
      if (message.table === SIGNAL_TABLE) this.control.set(message.relationId, 'signal');
      return;
    }
    if (!this.capturedOids.has(message.relationId)) return; // in the publication, but not captured here
    const problem = identityProblem(message.replicaIdentity, qualified);
    if (problem) throw new TaskHaltedError(problem);
    const current = this.relations.get(message.relationId);
    let catalog = this.tablesByStream.get(qualified) ?? (await loadTable(this.query, message.relationId));
    // The key comes from the catalog (REPLICA IDENTITY FULL flags every column); columns from the message,
    // which describes the rows that follow it, not the table as it is now.
    const shapeOf = (definition: TableDefinition) => ({
      schema: message.schema,
      table: message.table,
      columns: message.columns.map((c) => ({
        ...c,
        dimensions: definition.columns.find((d) => d.name === c.name)?.dimensions ?? 0,
      })),
      primaryKey: definition.primaryKey.filter((k) => message.columns.some((c) => c.name === k)),
    });
    let shape = shapeOf(catalog);
    if (current && current.signature === shapeSignature(shape)) return;
    if (current || shapeSignature(catalog) !== shapeSignature(shape)) {
      // The table changed: chunk SELECTs must read it as it is now.
      this.types.forget();
      catalog = await loadTable(this.query, message.relationId);
      await this.types.load(catalog.columns.map((c) => c.typeOid));
      this.setDefinition(catalog);
      shape = shapeOf(catalog);
    }
    await this.types.load(message.columns.map((c) => c.typeOid));
    let stream: TableStream;
    try {
      stream = buildTableStream(shape, this.config.database, this.types, mappingOptions(this.config));
    } catch (error) {
      throw new TaskHaltedError(
        `table ${qualified} changed in a way this source cannot follow: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (current) this.ctx.logger.info({ table: qualified }, 'table definition changed; new schema follows');
    this.relations.set(message.relationId, stream);
  }

  private async onRowChange(
    message: Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' }>,
    origin: ChangeOrigin,
    events: SourceBatchEvent[],
  ): Promise<void> {
    const control = this.control.get(message.relationId);
    if (control) {
      if (message.tag === 'insert' || message.tag === 'update')
        await this.onControlRow(control, message.newTuple, events);
      return;
    }
    const stream = this.relations.get(message.relationId);
    if (!stream) return;
    const emit = (event: SourceBatchEvent) => this.emit(stream, event, events);
    if (message.tag === 'insert') {
      const { row, unchanged } = decodeRow(stream, message.newTuple);
      const unavailable = await this.resolveUnchanged(stream, message.newTuple, row, unchanged);
      this.window?.onChange(stream.name, [keyTextOf(stream, message.newTuple)]);
      emit(envelopeEvent(stream, this.context, origin, 'c', keyOf(stream, row), null, row, unavailable));
      return;
    }
    if (message.tag === 'delete') {
      const before = message.oldIsKeyOnly
        ? decodeKeyRow(stream, message.oldTuple)
        : decodeRow(stream, message.oldTuple).row;
      this.window?.onChange(stream.name, [keyTextOf(stream, message.oldTuple)]);
      for (const event of deleteEvents(stream, this.context, origin, before)) emit(event);
      return;
    }
    const old = message.oldTuple;
    const fullOld = old && !message.oldIsKeyOnly ? old : null;
    const { row: after, unchanged } = decodeRow(stream, message.newTuple, fullOld);
    const unavailable = await this.resolveUnchanged(stream, message.newTuple, after, unchanged);
    const newKey = keyOf(stream, after);
    const newKeyText = keyTextOf(stream, message.newTuple);
    const oldKeyText = old ? keyTextOf(stream, old) : newKeyText;
    this.window?.onChange(stream.name, [oldKeyText, newKeyText]);
    const before = fullOld ? decodeRow(stream, fullOld).row : null;
    if (old && oldKeyText !== newKeyText) {
      // A primary-key change: the old key is deleted, the new one created (each carries the other key).
      const oldRow = before ?? decodeKeyRow(stream, old);
      const oldKey = keyOf(stream, oldRow);
      for (const event of deleteEvents(stream, this.context, origin, oldRow, {
        'datamesh.newkey': JSON.stringify(newKey),
      }))
        emit(event);
      emit(
        envelopeEvent(stream, this.context, origin, 'c', newKey, null, after, {
          'datamesh.oldkey': JSON.stringify(oldKey),
          ...unavailable,
        }),
      );
      return;
    }
    emit(envelopeEvent(stream, this.context, origin, 'u', newKey, before, after, unavailable));
  }

  private onTruncate(relationIds: readonly number[], origin: ChangeOrigin, events: SourceBatchEvent[]): void {
    for (const id of relationIds) {
      const stream = this.relations.get(id);
      if (!stream) continue;
      this.window?.onTruncate(stream.name);
      this.emit(stream, truncateEvent(stream, this.context, origin), events);
    }
  }

  /**
   * Unchanged TOASTed values: a placeholder where the configuration asks for one and the type can hold it,
   * otherwise the current value read by key. A row deleted since has no current value: the column is null
   * and the event names it in its `datamesh.toast.unavailable` header (returned here as the event's headers).
   */
  private async resolveUnchanged(
    stream: TableStream,
    tuple: Tuple,
    row: Row,
    unchanged: readonly number[],
  ): Promise<Record<string, string> | undefined> {
    if (unchanged.length === 0) return undefined;
    const toFetch: number[] = [];
    for (const i of unchanged) {
      const column = stream.columns[i]!;
      if (this.config.toast === 'placeholder' && column.mapping.placeholder !== undefined)
        row[column.field] = column.mapping.placeholder;
      else toFetch.push(i);
    }
    if (toFetch.length === 0) return undefined;
    const table = this.tablesByStream.get(stream.name);
    const unavailable = {
      'datamesh.toast.unavailable': toFetch.map((i) => stream.columns[i]!.name).join(','),
    };
    if (!table) return unavailable;
    const keyColumns = stream.keyIndexes.map((i) => stream.columns[i]!);
    const keyTypes = keyColumns.map((c) => table.columns.find((t) => t.name === c.name)?.sqlType ?? 'text');
    const where = keyColumns.map((c, i) => `${quoteIdent(c.name)} = $${i + 1}::${keyTypes[i]}`).join(' AND ');
    const select = toFetch.map((i) => quoteIdent(stream.columns[i]!.name)).join(', ');
    const keyTexts = stream.keyIndexes.map((i) => {
      const value = tuple[i];
      return value?.kind === 'text' ? value.text : null;
    });
    let current: (string | null)[] | undefined;
    try {
      const result = await this.query.query<unknown[]>({
        text: `SELECT ${select} FROM ${qualifiedName(stream.schema, stream.table)} WHERE ${where}`,
        values: keyTexts,
        rowMode: 'array',
        types: TEXT_TYPES,
      });
      current = result.rows[0] as (string | null)[] | undefined;
    } catch (error) {
      // The column or table was dropped or renamed since this change: its value is gone for good.
      if (!['42703', '42P01'].includes((error as { code?: string }).code ?? '')) throw error;
    }
    toFetch.forEach((columnIndex, i) => {
      const column = stream.columns[columnIndex]!;
      const text = current?.[i];
      row[column.field] = text === undefined || text === null ? null : column.mapping.decode(text);
    });
    return current ? undefined : unavailable;
  }

  private async onControlRow(kind: ControlKind, tuple: Tuple, events: SourceBatchEvent[]): Promise<void> {
    const text = (i: number) => (tuple[i]?.kind === 'text' ? tuple[i].text : undefined);
    if (kind === 'watermark') {
      // watermarks (slot_name, token, written_at)
      if (text(0) !== this.config.slot || !this.window) return;
      const outcome = this.window.onWatermark(text(1) ?? '');
      if (outcome === 'closed') this.closeWindow(events);
      return;
    }
    // signals (id, slot_name, kind, payload, written_at)
    if (text(1) !== this.config.slot) return;
    await this.onSignal(text(0) ?? '?', text(2) ?? '', text(3));
  }

  /**
   * At the high watermark: the chunk rows no log change touched are emitted now, right after the log events
   * before the watermark, and the snapshot's progress moves past the chunk.
   */
  private closeWindow(events: SourceBatchEvent[]): void {
    const window = this.window!;
    const { stream, plan } = this.windowChunk!;
    const at = this.tx?.finalLsn ?? this.committedLsn;
    const origin: ChangeOrigin = {
      lsn: at,
      commitLsn: at,
      txId: null,
      tsMs: Date.now(),
      snapshot: plan.flag,
    };
    for (const { tuple } of window.survivors()) {
      const { row } = decodeRow(stream, tuple);
      this.emit(
        stream,
        envelopeEvent(stream, this.context, origin, 'r', keyOf(stream, row), null, row),
        events,
      );
    }
    this.snapshots[0] = plan;
    this.window = undefined;
    this.windowChunk = undefined;
    // The next chunk's watermarks and SELECT run while the runtime writes this batch; its window opens only
    // when the next read sees the low watermark, so the order of the log is kept.
    if (this.snapshots.length > 0) {
      const starting = this.startChunk();
      starting.catch(() => undefined); // awaited by the next read, which fails with it
      this.chunkStarting = starting;
    }
  }

  private async onSignal(id: string, kind: string, payload: string | undefined): Promise<void> {
    if (kind !== 'execute-snapshot') {
      this.ctx.logger.warn({ id, kind }, 'ignoring a signal of unknown kind (known: execute-snapshot)');
      return;
    }
    let request: { tables?: string[]; keys?: string[][] };
    try {
      request = payload ? (JSON.parse(payload) as typeof request) : {};
    } catch {
      this.ctx.logger.warn({ id }, 'ignoring a snapshot signal whose payload is not JSON');
      return;
    }
    const tables =
      request.tables && request.tables.length > 0 ? request.tables : [...this.tablesByStream.keys()];
    const unknown = tables.filter((t) => !this.tablesByStream.has(t));
    if (unknown.length > 0 || (request.keys && tables.length !== 1)) {
      this.ctx.logger.warn(
        { id, unknown, captured: [...this.tablesByStream.keys()] },
        'ignoring a snapshot signal: it names tables this source does not capture, or keys without exactly one table',
      );
      return;
    }
    this.snapshots.push(
      await this.plan({
        id,
        flag: 'incremental',
        streams: tables,
        ...(request.keys ? { keys: request.keys } : {}),
      }),
    );
    this.ctx.logger.info({ id, tables }, 'snapshot requested');
  }

  private async plan(request: PlannedRequest): Promise<SnapshotPlan> {
    const oids = request.streams.map((s) => this.tablesByStream.get(s)!.oid);
    const estimates = await estimateRows(this.query, oids);
    const byStream = new Map(request.streams.map((s, i) => [s, estimates.get(oids[i]!) ?? 0]));
    return planSnapshot(request, byStream);
  }

  /**
   * Opens the next chunk's window: low watermark, chunk SELECT, high watermark — log processing waits for
   * these three statements, nothing longer. A finished table or snapshot is recorded instead.
   */
  private async startChunk(): Promise<void> {
    const plan = this.snapshots[0]!;
    const progress = nextTable(plan);
    if (!progress) {
      this.snapshots.shift();
      this.ctx.logger.info({ id: plan.id }, 'snapshot finished');
      return;
    }
    const table = this.tablesByStream.get(progress.stream)!;
    const stream = this.catalogStreams.get(progress.stream)!;
    // The window exists before its low watermark is written: the log may bring the watermark back before this
    // (background) preparation finishes.
    const window = new WatermarkWindow<{ tuple: Tuple }>(progress.stream, randomUUID(), randomUUID());
    this.window = window;
    await this.writeWatermark(window.lowToken);
    const chunk = await selectChunk(this.query, table, progress, this.config.snapshot.chunkSize);
    window.setRows(chunk.rows.map((r) => [r.key, { tuple: r.tuple }] as const));
    this.windowChunk = { stream, plan: withTableProgress(plan, chunk.next) };
    await this.writeWatermark(window.highToken);
    this.snapshotRows.set({ table: progress.stream }, chunk.next.rows);
    this.logProgress(progress.stream, progress.rows, chunk.next.rows, chunk.next.estimate, chunk.next.done);
  }

  private async writeWatermark(token: string): Promise<void> {
    await this.query.query(
      `INSERT INTO ${qualifiedName(this.config.controlSchema, WATERMARK_TABLE)} (slot_name, token) VALUES ($1, $2)
       ON CONFLICT (slot_name) DO UPDATE SET token = EXCLUDED.token, written_at = now()`,
      [this.config.slot, token],
    );
  }

  /** A log line every 10 s of a table's snapshot and when it ends: rows done, estimated, and the rate. */
  private logProgress(table: string, before: number, rows: number, estimate: number, done: boolean): void {
    const now = Date.now();
    const since = this.progressStart?.table === table ? this.progressStart : { table, at: now, rows: before };
    this.progressStart = since;
    if (!done && now - this.lastProgressLog < 10_000) return;
    this.lastProgressLog = now;
    const seconds = (now - since.at) / 1000;
    const rowsPerSecond = seconds > 0 ? Math.round((rows - since.rows) / seconds) : undefined;
    this.ctx.logger.info(
      { table, rows, estimate, ...(rowsPerSecond !== undefined ? { rowsPerSecond } : {}), done },
      done ? 'snapshot of table finished' : 'snapshot progress',
    );
  }

  private explainStreamError(error: Error): Error {
    const message = error.message;
    if (/publication .* does not exist/.test(message)) {
      return new TaskHaltedError(
        `publication "${this.config.publication}" was dropped while the slot still had changes to send (${message}); ` +
          'changes written since cannot be decoded through this slot. Recreate the publication, then drop and ' +
          `recreate slot "${this.config.slot}" and take a snapshot (mesh source snapshot) to catch up`,
        { cause: error },
      );
    }
    return error;
  }
}

/**
 * Events are keyed by the primary key, so the old row a delete or key change carries must hold it: REPLICA
 * IDENTITY DEFAULT (the primary key) or FULL. USING INDEX sends another unique key, NOTHING no old row at all.
 */
function identityProblem(identity: string, table: string): string | undefined {
  if (identity === 'default' || identity === 'full') return undefined;
  return (
    `table ${table} has REPLICA IDENTITY ${identity === 'index' ? 'USING INDEX' : 'NOTHING'}: its deletes and key ` +
    `changes would not carry the primary key. ALTER TABLE ${table} REPLICA IDENTITY DEFAULT (or FULL)`
  );
}
