import { qualifiedName, quoteIdent, type Queryable } from './table-catalog.js';

/** What a source needs on the server before it streams; each check fails with what to change. */
export interface SetupOptions {
  readonly slot: string;
  readonly publication: string;
  readonly createSlot: boolean;
  readonly createPublication: boolean;
  /** Schema of the watermark and signal tables. */
  readonly controlSchema: string;
  /** The captured tables' oids, and their names for messages. */
  readonly tables: readonly { readonly oid: number; readonly name: string }[];
}

export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

export const WATERMARK_TABLE = 'watermarks';
export const SIGNAL_TABLE = 'signals';

/** Checks the server and prepares control tables, publication and slot; returns the slot's confirmed LSN. */
export async function prepareSource(client: Queryable, options: SetupOptions): Promise<string> {
  await checkServer(client);
  await ensureControlTables(client, options.controlSchema);
  await ensurePublication(client, options);
  return ensureSlot(client, options);
}

async function checkServer(client: Queryable): Promise<void> {
  const { rows } = await client.query<{ wal_level: string; replication: boolean; version: number }>(
    `SELECT current_setting('wal_level') AS wal_level,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS replication,
            current_setting('server_version_num')::int AS version`,
  );
  const server = rows[0]!;
  if (server.wal_level !== 'logical') {
    throw new SetupError(
      `the server's wal_level is "${server.wal_level}", and logical replication needs "logical": set ` +
        'wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart Postgres',
    );
  }
  if (!server.replication) {
    throw new SetupError(
      'the connecting role may not stream changes: it needs the REPLICATION attribute ' +
        '(ALTER ROLE <user> REPLICATION), or use a role that has it',
    );
  }
  if (server.version < 100000) {
    throw new SetupError(`Postgres ${server.version} has no pgoutput; version 10 or newer is needed`);
  }
}

async function ensureControlTables(client: Queryable, schema: string): Promise<void> {
  const { rows } = await client.query<{ watermarks: boolean; signals: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS watermarks, to_regclass($2) IS NOT NULL AS signals`,
    [qualifiedName(schema, WATERMARK_TABLE), qualifiedName(schema, SIGNAL_TABLE)],
  );
  if (rows[0]?.watermarks && rows[0].signals) return;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, WATERMARK_TABLE)} (
         slot_name text PRIMARY KEY, token text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())`,
    );
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, SIGNAL_TABLE)} (
         id bigserial PRIMARY KEY, slot_name text NOT NULL, kind text NOT NULL, payload jsonb,
         written_at timestamptz NOT NULL DEFAULT now())`,
    );
  } catch (error) {
    throw new SetupError(
      `cannot create the control tables ${schema}.${WATERMARK_TABLE} and ${schema}.${SIGNAL_TABLE} ` +
        `(snapshots write watermarks there): ${(error as Error).message}. Create them as the README shows, ` +
        `or grant CREATE on the database to the connecting role`,
    );
  }
}

async function ensurePublication(client: Queryable, options: SetupOptions): Promise<void> {
  const wanted = [
    ...options.tables.map((t) => t.name),
    `${options.controlSchema}.${WATERMARK_TABLE}`,
    `${options.controlSchema}.${SIGNAL_TABLE}`,
  ];
  const quoted = [
    ...options.tables.map((t) => `${t.oid}::regclass`),
    `${quoteLiteral(qualifiedName(options.controlSchema, WATERMARK_TABLE))}::regclass`,
    `${quoteLiteral(qualifiedName(options.controlSchema, SIGNAL_TABLE))}::regclass`,
  ];
  const { rows: existing } = await client.query<{ all_tables: boolean }>(
    'SELECT puballtables AS all_tables FROM pg_publication WHERE pubname = $1',
    [options.publication],
  );
  if (existing.length === 0) {
    if (!options.createPublication) {
      throw new SetupError(
        `publication "${options.publication}" does not exist: create it (CREATE PUBLICATION ${options.publication} ` +
          `FOR TABLE ${wanted.join(', ')}) or set createPublication: true`,
      );
    }
    const { rows: names } = await client.query<{ name: string }>(
      `SELECT c::regclass::text AS name FROM unnest(ARRAY[${quoted.join(', ')}]::regclass[]) AS c`,
    );
    // A partitioned table's changes are then published under its own name, not its partitions' (PG 13+).
    const viaRoot =
      (await serverVersion(client)) >= 130000 ? ' WITH (publish_via_partition_root = true)' : '';
    await client.query(
      `CREATE PUBLICATION ${quoteIdent(options.publication)} FOR TABLE ${names.map((n) => n.name).join(', ')}${viaRoot}`,
    );
    return;
  }
  await checkPartitionedPublished(client, options);
  if (existing[0]!.all_tables) return;
  const { rows: missing } = await client.query<{ name: string }>(
    `SELECT c::regclass::text AS name FROM unnest(ARRAY[${quoted.join(', ')}]::regclass[]) AS c
      WHERE NOT EXISTS (SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
                         WHERE p.pubname = $1 AND r.prrelid = c)`,
    [options.publication],
  );
  if (missing.length === 0) return;
  const names = missing.map((m) => m.name).join(', ');
  if (!options.createPublication) {
    throw new SetupError(
      `publication "${options.publication}" lacks ${names}: add them ` +
        `(ALTER PUBLICATION ${options.publication} ADD TABLE ${names}) or set createPublication: true`,
    );
  }
  await client.query(`ALTER PUBLICATION ${quoteIdent(options.publication)} ADD TABLE ${names}`);
}

async function ensureSlot(client: Queryable, options: SetupOptions): Promise<string> {
  const { rows } = await client.query<{
    plugin: string;
    database: string;
    confirmed: string | null;
    current: string;
  }>(
    `SELECT plugin, database, confirmed_flush_lsn::text AS confirmed, current_database() AS current
       FROM pg_replication_slots WHERE slot_name = $1`,
    [options.slot],
  );
  const slot = rows[0];
  if (slot) {
    if (slot.plugin !== 'pgoutput' || slot.database !== slot.current) {
      throw new SetupError(
        `replication slot "${options.slot}" belongs to plugin ${slot.plugin} in database ${slot.database}; ` +
          'this source needs a pgoutput slot in its own database: name another slot',
      );
    }
    if (slot.confirmed === null) {
      throw new SetupError(`replication slot "${options.slot}" was invalidated (WAL it needed was removed)`);
    }
    return slot.confirmed;
  }
  if (!options.createSlot) {
    throw new SetupError(
      `replication slot "${options.slot}" does not exist: create it ` +
        `(SELECT pg_create_logical_replication_slot('${options.slot}', 'pgoutput')) or set createSlot: true`,
    );
  }
  const { rows: created } = await client.query<{ lsn: string }>(
    `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
    [options.slot],
  );
  return created[0]!.lsn;
}

async function serverVersion(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ version: number }>(
    `SELECT current_setting('server_version_num')::int AS version`,
  );
  return Number(rows[0]!.version);
}

/** A partitioned table is captured under its own name only when the publication publishes via the root. */
async function checkPartitionedPublished(client: Queryable, options: SetupOptions): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.oid = ANY($1::oid[]) AND c.relkind = 'p'
        AND NOT EXISTS (SELECT 1 FROM pg_publication p WHERE p.pubname = $2 AND p.pubviaroot)`,
    [options.tables.map((t) => t.oid), options.publication],
  );
  if (rows.length === 0) return;
  throw new SetupError(
    `publication "${options.publication}" sends the changes of partitioned ${rows.map((r) => r.name).join(', ')} ` +
      `under their partitions' names, which this source does not capture: ALTER PUBLICATION ${options.publication} ` +
      'SET (publish_via_partition_root = true)',
  );
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
