import avro from 'avsc';

/** An Avro schema as JSON (what avsc parses and what a schema registry stores). */
export type AvroSchema = avro.Schema;
export type AvroType = avro.Type;
export type AvroRecordSchema = {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: AvroField[];
};
export type AvroField = { name: string; type: AvroSchema; default?: unknown; doc?: string };

const typeCache = new Map<string, avro.Type>();

/** Parses (and caches) an Avro type. Logical types are kept as annotations. */
export function avroType(schema: AvroSchema): avro.Type {
  const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
  let type = typeCache.get(text);
  if (!type) {
    type = avro.Type.forSchema(schema, { wrapUnions: false });
    typeCache.set(text, type);
  }
  return type;
}

export function isRecordSchema(schema: unknown): schema is AvroRecordSchema {
  return typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'record';
}

/** The record fields of a schema that may be `["null", record]`. */
export function recordFields(schema: AvroSchema): AvroField[] {
  const record = unwrapNullable(schema);
  return isRecordSchema(record) ? record.fields : [];
}

export function unwrapNullable(schema: AvroSchema): AvroSchema {
  if (Array.isArray(schema)) {
    const branches = schema.filter((s) => s !== 'null');
    if (branches.length === 1) return branches[0] as AvroSchema;
  }
  return schema;
}

export function nullable(schema: AvroSchema): AvroSchema {
  return Array.isArray(schema) && schema.includes('null') ? schema : (['null', schema] as AvroSchema);
}

export type CompatibilityMode =
  'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE' | 'NONE';

export interface CompatibilityResult {
  readonly compatible: boolean;
  readonly messages: readonly string[];
}

/**
 * Checks `next` against earlier versions (newest last) with Avro's resolution rules:
 * BACKWARD — the new schema reads data written with the old; FORWARD — the old reads the new.
 * Names are compared unqualified, as the Avro specification says.
 */
export function checkCompatibility(
  next: AvroSchema,
  previous: readonly AvroSchema[],
  mode: CompatibilityMode = 'BACKWARD',
): CompatibilityResult {
  if (mode === 'NONE' || previous.length === 0) return { compatible: true, messages: [] };
  const against = mode.endsWith('_TRANSITIVE') ? previous : previous.slice(-1);
  const backward = mode.startsWith('BACKWARD') || mode.startsWith('FULL');
  const forward = mode.startsWith('FORWARD') || mode.startsWith('FULL');
  const nextType = avroType(next);
  const messages: string[] = [];
  for (const old of against) {
    const oldType = avroType(old);
    if (backward) tryResolve(nextType, oldType, 'new schema cannot read data written with the old', messages);
    if (forward) tryResolve(oldType, nextType, 'old schema cannot read data written with the new', messages);
  }
  return { compatible: messages.length === 0, messages };
}

function tryResolve(reader: avro.Type, writer: avro.Type, what: string, messages: string[]): void {
  try {
    // `ignoreNamespaces` exists at runtime but not in avsc's type declarations.
    (reader.createResolver as (w: avro.Type, o: object) => unknown)(writer, { ignoreNamespaces: true });
  } catch (error) {
    messages.push(`${what}: ${(error as Error).message}`);
  }
}

/** Can data written with `writer` be read as `reader`? */
export function canRead(reader: AvroSchema, writer: AvroSchema): CompatibilityResult {
  const messages: string[] = [];
  tryResolve(avroType(reader), avroType(writer), `cannot read`, messages);
  return { compatible: messages.length === 0, messages };
}
