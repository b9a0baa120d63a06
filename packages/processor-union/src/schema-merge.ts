import { isDeepStrictEqual } from 'node:util';
import {
  avroType,
  canRead,
  isRecordSchema,
  rowSchemaOf,
  type AvroField,
  type AvroRecordSchema,
  type AvroSchema,
  type ProcessorInput,
} from '@datamesh/core';

/** Two types of one field that the union cannot merge (see mergeTypes); the message says why, when it can. */
class TypeConflict extends Error {}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
/** Avro's promotions, each type readable as any type after it. */
const NUMERIC = ['int', 'long', 'float', 'double'];

type Json = Record<string, unknown>;

/** `int`, `array`, `record`, … for a schema written as a name or an object; `ref` for a named type's name. */
function kindOf(type: unknown): string {
  if (typeof type === 'string') return PRIMITIVES.has(type) ? type : 'ref';
  const inner = (type as Json | null)?.['type'];
  return typeof inner === 'string' ? inner : 'unknown';
}

/** The attributes that change what a primitive's value means (`timestamp-micros`, a decimal's scale). */
function logicalOf(type: unknown): string {
  if (typeof type !== 'object' || type === null) return '';
  const { logicalType, precision, scale } = type as Json;
  return logicalType === undefined ? '' : JSON.stringify({ logicalType, precision, scale });
}

function unqualified(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

/** Numbers promote into each other; named types match by name; others by kind. */
function familyOf(type: unknown): string {
  const kind = kindOf(type);
  if (NUMERIC.includes(kind)) return 'number';
  if (kind === 'ref') return `named ${unqualified(type as string)}`;
  if (kind === 'record' || kind === 'enum' || kind === 'fixed') {
    return `named ${unqualified(String((type as Json)['name']))}`;
  }
  return kind;
}

function withoutNull(type: unknown): { nullable: boolean; branches: unknown[] } {
  const branches = Array.isArray(type) ? type : [type];
  const rest = branches.filter((t) => kindOf(t) !== 'null');
  return { nullable: rest.length < branches.length, branches: rest };
}

/** `["null", …]`, null first so that null can be the default. */
function nullFirst(type: unknown): unknown[] {
  return ['null', ...withoutNull(type).branches];
}

function mergeSingle(a: unknown, b: unknown): unknown {
  if (isDeepStrictEqual(a, b)) return a;
  const [ka, kb] = [kindOf(a), kindOf(b)];
  if (ka === kb && PRIMITIVES.has(ka)) {
    if (logicalOf(a) !== logicalOf(b)) throw new TypeConflict('their logical types differ');
    return a;
  }
  if (NUMERIC.includes(ka) && NUMERIC.includes(kb)) {
    if (logicalOf(a) || logicalOf(b)) throw new TypeConflict('logical types are not promoted');
    return NUMERIC.indexOf(ka) >= NUMERIC.indexOf(kb) ? a : b;
  }
  if (ka === 'array' && kb === 'array') {
    return { ...(a as Json), items: mergeTypes((a as Json)['items'], (b as Json)['items']) };
  }
  if (ka === 'map' && kb === 'map') {
    return { ...(a as Json), values: mergeTypes((a as Json)['values'], (b as Json)['values']) };
  }
  if ((ka === 'string' && kb === 'bytes') || (ka === 'bytes' && kb === 'string')) {
    throw new TypeConflict('Avro promotes between string and bytes, but the values would need converting');
  }
  throw new TypeConflict('');
}

/**
 * The type both `a` and `b` can be written as without changing a value: the same type, or the wider of two
 * numbers (int → long → float → double), nullable when either is, element- and value-wise for arrays and
 * maps. Unions of several types must have the same branches up to these rules. Named types (records, enums,
 * fixed) must be identical. Logical types must be identical too: Avro's resolution would read
 * timestamp-millis as timestamp-micros (both longs), or a decimal at another scale, changing what the value
 * means. Throws a TypeConflict otherwise.
 */
function mergeTypes(a: unknown, b: unknown): unknown {
  if (isDeepStrictEqual(a, b)) return a;
  const [na, nb] = [withoutNull(a), withoutNull(b)];
  let merged: unknown[];
  if (na.branches.length === 1 && nb.branches.length === 1) {
    merged = [mergeSingle(na.branches[0], nb.branches[0])];
  } else {
    const families = (branches: unknown[]) => branches.map(familyOf);
    const [fa, fb] = [families(na.branches), families(nb.branches)];
    const distinct = new Set(fa).size === fa.length && new Set(fb).size === fb.length;
    if (!distinct || fa.length !== fb.length || !fa.every((f) => fb.includes(f))) {
      throw new TypeConflict('the unions have different branches');
    }
    merged = na.branches.map((branch, i) => mergeSingle(branch, nb.branches[fb.indexOf(fa[i]!)]));
  }
  if (na.nullable || nb.nullable) return ['null', ...merged];
  return merged.length === 1 ? merged[0] : merged;
}

/** Whether `value` is a valid default for `type` (for a union: for its first branch). */
function defaultFits(type: unknown, value: unknown): boolean {
  try {
    return avroType((Array.isArray(type) ? type[0] : type) as AvroSchema).isValid(value);
  } catch {
    // A named type referenced by name parses only inside its record: keep no default rather than guess.
    return false;
  }
}

interface FieldsOf {
  readonly input: string;
  readonly fields: readonly AvroField[];
}

interface MergedFields {
  readonly fields: AvroField[];
  /** Output field name → the inputs that have it. */
  readonly from: Map<string, string[]>;
}

/**
 * Fields of several records merged: every field of every input, in the order first seen. A field some inputs
 * lack becomes nullable with the default null (`lacking: 'nullable'`), as Avro's resolution fills it when such
 * an input's event is read; for key fields it is a problem (`lacking: 'refuse'`).
 */
function mergeFields(
  what: string,
  records: readonly FieldsOf[],
  lacking: 'nullable' | 'refuse',
  problems: string[],
): MergedFields {
  const names = [...new Set(records.flatMap((r) => r.fields.map((f) => f.name)))];
  const fields: AvroField[] = [];
  const from = new Map<string, string[]>();
  for (const name of names) {
    const declared = records.flatMap((r) => {
      const field = r.fields.find((f) => f.name === name);
      return field ? [{ input: r.input, field }] : [];
    });
    const absent = records.filter((r) => !r.fields.some((f) => f.name === name)).map((r) => r.input);
    let type: unknown = declared[0]!.field.type;
    try {
      for (const { field } of declared.slice(1)) type = mergeTypes(type, field.type);
    } catch (error) {
      if (!(error instanceof TypeConflict)) throw error;
      const types = declared.map((d) => `${JSON.stringify(d.field.type)} in ${d.input}`).join(', ');
      problems.push(
        `${what} "${name}" has incompatible types: ${types}${error.message ? ` (${error.message})` : ''}`,
      );
      continue;
    }
    if (absent.length > 0 && lacking === 'refuse') {
      problems.push(
        `${what} "${name}" is in ${declared.map((d) => d.input).join(', ')} but not in ${absent.join(', ')}`,
      );
      continue;
    }
    let fallback: unknown;
    if (absent.length > 0) {
      type = nullFirst(type);
      fallback = null;
    } else if (
      declared.every(
        (d) => 'default' in d.field && isDeepStrictEqual(d.field.default, declared[0]!.field.default),
      )
    ) {
      fallback = declared[0]!.field.default;
    }
    const { default: _default, ...rest } = declared[0]!.field;
    fields.push({
      ...rest,
      type: type as AvroSchema,
      ...(fallback !== undefined && defaultFits(type, fallback) ? { default: fallback } : {}),
    });
    from.set(
      name,
      declared.map((d) => d.input),
    );
  }
  return { fields, from };
}

/** `{ name, namespace }` of a record, its namespace inherited from the enclosing one when it has none. */
function nameOf(record: AvroRecordSchema, enclosing?: string): { name: string; namespace?: string } {
  if (record.name.includes('.')) {
    const dot = record.name.lastIndexOf('.');
    return { name: record.name.slice(dot + 1), namespace: record.name.slice(0, dot) };
  }
  const namespace = record.namespace ?? enclosing;
  return namespace ? { name: record.name, namespace } : { name: record.name };
}

const fullName = (n: { name: string; namespace?: string }) =>
  n.namespace ? `${n.namespace}.${n.name}` : n.name;

interface Names {
  readonly envelope: { name: string; namespace?: string };
  readonly row: { name: string; namespace?: string };
  readonly source: { name: string; namespace?: string };
  readonly key: { name: string; namespace?: string };
}

function sourceRecordOf(envelope: AvroRecordSchema): AvroRecordSchema | undefined {
  const type = envelope.fields.find((f) => f.name === 'source')?.type;
  return isRecordSchema(type) ? type : undefined;
}

function namesOf(input: ProcessorInput): Names | undefined {
  const envelope = nameOf(input.valueSchema);
  const source = sourceRecordOf(input.valueSchema);
  if (!source) return undefined;
  return {
    envelope,
    row: nameOf(rowSchemaOf(input.valueSchema), envelope.namespace),
    source: nameOf(source, envelope.namespace),
    key: nameOf(input.keySchema),
  };
}

interface Parts {
  readonly row: readonly AvroField[];
  readonly source: readonly AvroField[];
  /** Envelope fields besides before, after and source: op, ts_ms, and any a connector adds. */
  readonly envelope: readonly AvroField[];
  readonly key: readonly AvroField[];
}

function record(n: { name: string; namespace?: string }, fields: readonly AvroField[]): AvroRecordSchema {
  return { type: 'record', ...n, fields: [...fields] };
}

function build(names: Names, parts: Parts): { key: AvroRecordSchema; value: AvroRecordSchema } {
  const row = record(names.row, parts.row);
  return {
    key: record(names.key, parts.key),
    value: record(names.envelope, [
      { name: 'before', type: ['null', row] as AvroSchema, default: null },
      { name: 'after', type: ['null', fullName(names.row)], default: null },
      { name: 'source', type: record(names.source, parts.source) as AvroSchema },
      ...parts.envelope,
    ]),
  };
}

export interface UnionSchemas {
  readonly keySchema: AvroRecordSchema;
  readonly valueSchema: AvroRecordSchema;
  /** Output row field → the inputs that have it (the origin field is not among them). */
  readonly rowFields: ReadonlyMap<string, readonly string[]>;
  /** Input → the output fields it lacks, which its events carry as null. */
  readonly lacking: ReadonlyMap<string, Lacking>;
}

export interface Lacking {
  readonly row: readonly string[];
  readonly source: readonly string[];
  /** Envelope fields besides before, after and source. */
  readonly envelope: readonly string[];
}

export interface OriginOptions {
  /** The row field (and, with `inKey`, key field) telling the input an event came from. */
  readonly field: string;
  readonly inKey: boolean;
}

/**
 * The schemas every input's events can be written as, plus the origin field: see `mergeTypes` and
 * `mergeFields` for the rule, and the README. Answers the problems instead when there is no such schema.
 */
export function unionSchemas(
  inputs: readonly ProcessorInput[],
  origin: OriginOptions,
): UnionSchemas | { readonly problems: readonly string[] } {
  const problems: string[] = [];
  const shaped = inputs.flatMap((input) => {
    const names = (() => {
      try {
        return namesOf(input);
      } catch {
        return undefined;
      }
    })();
    if (!names) {
      problems.push(
        `${input.name} is not a change-event envelope (a "before" row record and a "source" record)`,
      );
      return [];
    }
    return [{ input, names }];
  });
  if (problems.length > 0) return { problems };

  const of = (pick: (input: ProcessorInput) => readonly AvroField[]) =>
    shaped.map(({ input }) => ({ input: input.name, fields: pick(input) }));
  const row = mergeFields(
    'field',
    of((i) => rowSchemaOf(i.valueSchema).fields),
    'nullable',
    problems,
  );
  const source = mergeFields(
    'source field',
    of((i) => sourceRecordOf(i.valueSchema)!.fields),
    'nullable',
    problems,
  );
  const envelope = mergeFields(
    'envelope field',
    of((i) => i.valueSchema.fields.filter((f) => !['before', 'after', 'source'].includes(f.name))),
    'nullable',
    problems,
  );
  const key = mergeFields(
    'key field',
    of((i) => i.keySchema.fields),
    'refuse',
    problems,
  );
  for (const { input } of shaped) {
    const taken = [
      ...(rowSchemaOf(input.valueSchema).fields.some((f) => f.name === origin.field) ? ['row'] : []),
      ...(origin.inKey && input.keySchema.fields.some((f) => f.name === origin.field) ? ['key'] : []),
    ];
    if (taken.length > 0) {
      problems.push(
        `${input.name} already has a ${taken.join(' and ')} field "${origin.field}": choose another originField`,
      );
    }
  }
  if (problems.length > 0) return { problems };

  const parts: Parts = { row: row.fields, source: source.fields, envelope: envelope.fields, key: key.fields };
  // Avro's own resolution (the check the schema registry makes) confirms the rule for each input: the input's
  // schemas must read as the output's (before the origin field, which the union writes itself), named as the
  // input names its records, since record names carry no data.
  for (const { input, names } of shaped) {
    try {
      const reader = build(names, parts);
      const messages = [
        ...canRead(reader.value, input.valueSchema).messages,
        ...canRead(reader.key, input.keySchema).messages,
      ];
      if (messages.length > 0) problems.push(`${input.name}: ${messages.join('; ')}`);
    } catch (error) {
      problems.push(`the merged schema for ${input.name} is not valid Avro: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) return { problems };

  const originField: AvroField = {
    name: origin.field,
    type: 'string',
    doc: 'The input of the union this event came from.',
  };
  const first = shaped[0]!;
  const { key: keySchema, value: valueSchema } = build(first.names, {
    ...parts,
    row: [...parts.row, originField],
    key: origin.inKey ? [...parts.key, originField] : parts.key,
  });
  const lackedBy = (input: string, merged: MergedFields) =>
    [...merged.from].filter(([, from]) => !from.includes(input)).map(([name]) => name);
  const lacking = new Map(
    shaped.map(({ input }) => [
      input.name,
      {
        row: lackedBy(input.name, row),
        source: lackedBy(input.name, source),
        envelope: lackedBy(input.name, envelope),
      },
    ]),
  );
  return { keySchema, valueSchema, rowFields: row.from, lacking };
}
