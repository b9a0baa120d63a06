import type pg from 'pg';

/** A captured table as the catalog describes it now. */
export interface TableDefinition {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  /** In attribute order, without dropped and generated columns (as pgoutput sends them). */
  readonly columns: readonly CatalogColumn[];
  /** Primary-key columns in key order; empty when the table has none. */
  readonly primaryKey: readonly string[];
  readonly replicaIdentity: 'default' | 'nothing' | 'full' | 'index';
}

export interface CatalogColumn {
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
  /** Declared array dimensions (pg_attribute.attndims; 0 for non-arrays). */
  readonly dimensions: number;
  /** The type as SQL spells it (`numeric(10,2)`), for casts in chunk queries. */
  readonly sqlType: string;
}

export type Queryable = Pick<pg.Client, 'query'>;

const IDENTITY: Record<string, TableDefinition['replicaIdentity']> = {
  d: 'default',
  n: 'nothing',
  f: 'full',
  i: 'index',
};

/** `schema.table` with each part quoted as an identifier. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Resolves the configured table names (`schema.table`, or `schema.*` for every ordinary and partitioned
 * table of a schema) to their oids, in a stable order; names that match nothing are reported together.
 */
export async function resolveTables(client: Queryable, patterns: readonly string[]): Promise<number[]> {
  const oids: number[] = [];
  const missing: string[] = [];
  for (const pattern of patterns) {
    const { schema, table } = splitTableName(pattern);
    const { rows } = await client.query<{ oid: number }>(
      `SELECT c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND ($2::text IS NULL OR c.relname = $2) AND c.relkind IN ('r', 'p')
          AND ($2::text IS NOT NULL OR NOT c.relispartition)
        ORDER BY c.relname`,
      [schema, table === '*' ? null : table],
    );
    if (rows.length === 0) missing.push(pattern);
    for (const row of rows) if (!oids.includes(row.oid)) oids.push(row.oid);
  }
  if (missing.length > 0) {
    throw new Error(
      `no table matches ${missing.map((m) => `"${m}"`).join(', ')} in this database; ` +
        'name tables as schema.table (or schema.* for all tables of a schema)',
    );
  }
  return oids;
}

/** Splits `schema.table` (either part may be double-quoted); a bare name means the `public` schema. */
export function splitTableName(name: string): { schema: string; table: string } {
  const parts = name.match(/"(?:[^"]|"")*"|[^.]+/g) ?? [];
  const unquote = (part: string) => (part.startsWith('"') ? part.slice(1, -1).replaceAll('""', '"') : part);
  if (parts.length === 1) return { schema: 'public', table: unquote(parts[0]!) };
  if (parts.length === 2) return { schema: unquote(parts[0]!), table: unquote(parts[1]!) };
  throw new Error(`"${name}" is not a table name: use schema.table`);
}

export async function loadTable(client: Queryable, oid: number): Promise<TableDefinition> {
  const { rows: tables } = await client.query<{ schema: string; table: string; identity: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, c.relreplident AS identity
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`,
    [oid],
  );
  const found = tables[0];
  if (!found) throw new Error(`table with oid ${oid} no longer exists`);
  const { rows: columns } = await client.query<{
    name: string;
    type_oid: number;
    type_mod: number;
    dimensions: number;
    sql_type: string;
  }>(
    `SELECT attname AS name, atttypid::int AS type_oid, atttypmod AS type_mod, attndims AS dimensions,
            format_type(atttypid, atttypmod) AS sql_type
       FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
      ORDER BY attnum`,
    [oid],
  );
  const { rows: keys } = await client.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisprimary
      ORDER BY k.ord`,
    [oid],
  );
  return {
    oid,
    schema: found.schema,
    table: found.table,
    columns: columns.map((c) => ({
      name: c.name,
      typeOid: Number(c.type_oid),
      typeMod: Number(c.type_mod),
      dimensions: Number(c.dimensions),
      sqlType: c.sql_type,
    })),
    primaryKey: keys.map((k) => k.name),
    replicaIdentity: IDENTITY[found.identity] ?? 'default',
  };
}
