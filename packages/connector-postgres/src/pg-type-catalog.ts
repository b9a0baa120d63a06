/**
 * What the type mapping needs to know about PostgreSQL types, read from `pg_type` and `pg_enum` by oid and kept
 * until forgotten. Loading follows arrays to their element type and domains to their base type, so one `load`
 * of a table's column types leaves everything `columnMapping` will ask for.
 */

/** Runs a parameterised query; a `pg.Client`'s `query` fits, whatever type parsers it has. */
export type TypeQuery = (sql: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/** `pg_type.typtype`: base, composite, domain, enum, pseudo, range, multirange. */
export type Typtype = 'b' | 'c' | 'd' | 'e' | 'p' | 'r' | 'm';

export interface PgType {
  readonly oid: number;
  /** `typname`, e.g. `int4`, `_int4` (its array), `hstore`. */
  readonly name: string;
  /** The namespace the type lives in, e.g. `pg_catalog`, `public`. */
  readonly schema: string;
  readonly typtype: Typtype;
  /** `typcategory`: `A` array, `S` string, `N` numeric, `G` geometric, `U` user-defined, … */
  readonly category: string;
  /** `typdelim`: the separator between this type's values in an array's text form (`,`; `;` for box). */
  readonly delimiter: string;
  /** Arrays: the element type. */
  readonly elementOid?: number;
  /** Domains: the type underneath, and the typmod the domain gives it (-1 for none). */
  readonly baseTypeOid?: number;
  readonly baseTypeMod?: number;
  /** Enums: the labels in their sort order. */
  readonly enumLabels?: readonly string[];
}

const TYPES_SQL = `SELECT t.oid, t.typname, n.nspname, t.typtype, t.typcategory, t.typdelim, t.typelem,
    t.typbasetype, t.typtypmod
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  WHERE t.oid = ANY (string_to_array($1, ',')::oid[])`;

const ENUM_LABELS_SQL = `SELECT enumtypid, enumlabel FROM pg_catalog.pg_enum
  WHERE enumtypid = ANY (string_to_array($1, ',')::oid[])
  ORDER BY enumtypid, enumsortorder`;

export class PgTypeCatalog {
  readonly #query: TypeQuery;
  readonly #types = new Map<number, PgType>();

  constructor(query: TypeQuery) {
    this.#query = query;
  }

  /** Loads the types not yet known, and the element and base types they lead to. */
  async load(oids: Iterable<number>): Promise<void> {
    let missing = this.#unknown(oids);
    while (missing.length > 0) {
      const loaded = await this.#fetch(missing);
      const found = new Set(loaded.map((type) => type.oid));
      const absent = missing.filter((oid) => !found.has(oid));
      if (absent.length > 0) throw new Error(`PostgreSQL has no type with oid ${absent.join(', ')}`);
      for (const type of loaded) this.#types.set(type.oid, type);
      missing = this.#unknown(loaded.flatMap(referencedTypes));
    }
  }

  /** A loaded type; asking for one that was not loaded is a programming error. */
  get(oid: number): PgType {
    const type = this.#types.get(oid);
    if (type === undefined) throw new Error(`type oid ${oid} is not in the catalog: load it first`);
    return type;
  }

  has(oid: number): boolean {
    return this.#types.has(oid);
  }

  /** Drops the given types (all when none are given), e.g. after DDL that may have changed them. */
  forget(oids?: Iterable<number>): void {
    if (oids === undefined) this.#types.clear();
    else for (const oid of oids) this.#types.delete(oid);
  }

  #unknown(oids: Iterable<number>): number[] {
    return [...new Set(oids)].filter((oid) => !this.#types.has(oid));
  }

  async #fetch(oids: readonly number[]): Promise<PgType[]> {
    const list = oids.join(',');
    const { rows } = await this.#query(TYPES_SQL, [list]);
    const enumOids = rows.filter((row) => row['typtype'] === 'e').map((row) => Number(row['oid']));
    const labels = enumOids.length > 0 ? await this.#enumLabels(enumOids) : new Map<number, string[]>();
    return rows.map((row) => typeFromRow(row, labels));
  }

  async #enumLabels(oids: readonly number[]): Promise<Map<number, string[]>> {
    const { rows } = await this.#query(ENUM_LABELS_SQL, [oids.join(',')]);
    const labels = new Map<number, string[]>();
    for (const row of rows) {
      const oid = Number(row['enumtypid']);
      labels.set(oid, [...(labels.get(oid) ?? []), String(row['enumlabel'])]);
    }
    return labels;
  }
}

// Rows may hold numbers or strings depending on the client's type parsers: read both.
function typeFromRow(row: Record<string, unknown>, enumLabels: ReadonlyMap<number, string[]>): PgType {
  const oid = Number(row['oid']);
  const typtype = String(row['typtype']) as Typtype;
  const category = String(row['typcategory']);
  const element = Number(row['typelem']);
  return {
    oid,
    name: String(row['typname']),
    schema: String(row['nspname']),
    typtype,
    category,
    delimiter: String(row['typdelim']),
    ...(category === 'A' && element !== 0 ? { elementOid: element } : {}),
    ...(typtype === 'd'
      ? { baseTypeOid: Number(row['typbasetype']), baseTypeMod: Number(row['typtypmod']) }
      : {}),
    ...(typtype === 'e' ? { enumLabels: enumLabels.get(oid) ?? [] } : {}),
  };
}

function referencedTypes(type: PgType): number[] {
  return [type.elementOid, type.baseTypeOid].filter((oid) => oid !== undefined);
}
