import type { AvroSchema } from '@datamesh/core';

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAMED = new Set(['record', 'error', 'enum', 'fixed']);

type SchemaObject = Record<string, unknown> & { type: unknown };

function isObject(schema: unknown): schema is SchemaObject {
  return typeof schema === 'object' && schema !== null && !Array.isArray(schema);
}

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function namespaceOf(full: string): string | undefined {
  const dot = full.lastIndexOf('.');
  return dot < 0 ? undefined : full.slice(0, dot);
}

/** The name a type refers to, when it is a reference (`"shop.Status"`, `{"type": "shop.Status"}`) to a named type. */
function referenceOf(schema: unknown): string | undefined {
  const name = isObject(schema) ? schema.type : schema;
  if (typeof name !== 'string' || PRIMITIVES.has(name) || NAMED.has(name)) return undefined;
  return name === 'array' || name === 'map' ? undefined : name;
}

/** A named type's definition and the namespace its own references resolve in. */
interface Definition {
  readonly schema: SchemaObject;
  readonly fullName: string;
}

/**
 * The named types (records, enums, fixed) of one Avro schema, so that a type written by reference
 * (`"after": ["null", "shop.orders.Value"]`, an enum used by two fields) can be looked up where it is used.
 */
export class AvroNames {
  readonly #definitions = new Map<string, Definition>();

  constructor(root: AvroSchema) {
    this.#collect(root, undefined);
  }

  /**
   * The definition a type stands for: a reference is replaced by the named type it names; anything else is
   * returned as it is, with the namespace its references resolve in.
   */
  resolve(
    schema: AvroSchema,
    namespace: string | undefined,
  ): { schema: AvroSchema; namespace: string | undefined } {
    const reference = referenceOf(schema);
    if (reference === undefined) return { schema, namespace };
    const definition = this.#lookup(reference, namespace);
    if (!definition) throw new Error(`Avro type "${reference}" is not defined in the schema`);
    return { schema: definition.schema as AvroSchema, namespace: namespaceOf(definition.fullName) };
  }

  /** The full name of a named type's definition (a record's `name` qualified by its namespace). */
  fullNameOf(schema: AvroSchema, namespace: string | undefined): string | undefined {
    if (!isObject(schema) || typeof schema.type !== 'string' || !NAMED.has(schema.type)) return undefined;
    return fullName(String(schema['name']), (schema['namespace'] as string | undefined) ?? namespace);
  }

  /**
   * A copy of `schema` that stands on its own wherever it is put: every name fully qualified, each named type
   * defined where it first occurs and referenced by its full name after that. `defined` holds the full names
   * already defined in the schema the copy goes into, and receives the ones the copy defines.
   */
  standalone(schema: AvroSchema, namespace: string | undefined, defined: Set<string>): AvroSchema {
    const { schema: resolved, namespace: ns } = this.resolve(schema, namespace);
    if (typeof resolved === 'string') return resolved;
    if (Array.isArray(resolved)) {
      return resolved.map((branch) => this.standalone(branch as AvroSchema, ns, defined)) as AvroSchema;
    }
    if (!isObject(resolved)) return resolved;
    const type = resolved.type;
    if (type === 'array') {
      return {
        ...resolved,
        items: this.standalone(resolved['items'] as AvroSchema, ns, defined),
      } as AvroSchema;
    }
    if (type === 'map') {
      return {
        ...resolved,
        values: this.standalone(resolved['values'] as AvroSchema, ns, defined),
      } as AvroSchema;
    }
    if (typeof type !== 'string' || !NAMED.has(type)) return resolved as AvroSchema;
    const full = this.fullNameOf(resolved as AvroSchema, ns)!;
    if (defined.has(full)) return full;
    defined.add(full);
    const { namespace: _namespace, ...rest } = resolved;
    const copy: SchemaObject = { ...rest, name: full };
    if (type === 'record' || type === 'error') {
      const inner = namespaceOf(full);
      copy['fields'] = (resolved['fields'] as { type: AvroSchema }[]).map((field) => ({
        ...field,
        type: this.standalone(field.type, inner, defined),
      }));
    }
    return copy as AvroSchema;
  }

  #lookup(reference: string, namespace: string | undefined): Definition | undefined {
    return this.#definitions.get(fullName(reference, namespace)) ?? this.#definitions.get(reference);
  }

  #collect(schema: unknown, namespace: string | undefined): void {
    if (Array.isArray(schema)) {
      for (const branch of schema) this.#collect(branch, namespace);
      return;
    }
    if (!isObject(schema)) return;
    const type = schema.type;
    if (type === 'array') return this.#collect(schema['items'], namespace);
    if (type === 'map') return this.#collect(schema['values'], namespace);
    if (typeof type !== 'string' || !NAMED.has(type)) return;
    const full = fullName(String(schema['name']), (schema['namespace'] as string | undefined) ?? namespace);
    if (this.#definitions.has(full)) return;
    this.#definitions.set(full, { schema, fullName: full });
    if (type === 'record' || type === 'error') {
      const inner = namespaceOf(full);
      for (const field of (schema['fields'] as { type: unknown }[] | undefined) ?? []) {
        this.#collect(field.type, inner);
      }
    }
  }
}
