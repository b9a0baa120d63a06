import type { Shape, ToCel } from './avro-shapes.js';
import { AVRO_VALUE, nullRecord, type RecordClass } from './cel-records.js';

/** The part of a value an expression reads: all of it, or some fields of a record. */
export interface ReadTree {
  all: boolean;
  readonly fields: Map<string, ReadTree>;
}

/** The read trees of the variables an expression reads, from its read paths. */
export function readTrees(paths: readonly (readonly string[])[]): Map<string, ReadTree> {
  const roots = new Map<string, ReadTree>();
  for (const [variable, ...fields] of paths) {
    let node = roots.get(variable!) ?? { all: false, fields: new Map() };
    roots.set(variable!, node);
    for (const field of fields) {
      if (node.all) break;
      const child: ReadTree = node.fields.get(field) ?? { all: false, fields: new Map() };
      node.fields.set(field, child);
      node = child;
    }
    node.all = true;
  }
  return roots;
}

export interface Converters {
  readonly classes: ReadonlyMap<string, RecordClass>;
  /** Why a null record at a path is null, for the error that reading one of its fields raises. */
  readonly whyNull: (path: string) => string | undefined;
  /** Converters of whole records, by record name. */
  readonly wholeRecords: Map<string, ToCel>;
}

/**
 * A function converting an Avro value of `shape` to its CEL value, converting only what `tree` says the
 * expression reads (everything when `tree` is undefined or `all`). Undefined when the value needs no conversion.
 */
export function toCel(
  shape: Shape,
  tree: ReadTree | undefined,
  path: string,
  converters: Converters,
): ToCel | undefined {
  switch (shape.kind) {
    case 'scalar': {
      const convert = shape.toCel;
      return convert && ((value) => (value === null || value === undefined ? null : convert(value)));
    }
    case 'dyn':
      return undefined;
    case 'list': {
      const items = toCel(shape.items, undefined, `${path}[]`, converters);
      return items && ((value) => (Array.isArray(value) ? value.map(items) : (value ?? null)));
    }
    case 'map': {
      const values = toCel(shape.values, undefined, `${path}{}`, converters);
      return (
        values &&
        ((value) =>
          typeof value === 'object' && value !== null
            ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, values(v)]))
            : (value ?? null))
      );
    }
    case 'record': {
      const whole = !tree || tree.all;
      const cached = whole ? converters.wholeRecords.get(shape.name) : undefined;
      if (cached) return cached;
      const type = converters.classes.get(shape.name)!;
      const missing = nullRecord(type, path, converters.whyNull(path));
      const fields: { name: string; convert: ToCel | undefined }[] = [];
      const convert: ToCel = (value) => {
        if (value === null || value === undefined) return missing;
        const source = value as Record<string, unknown>;
        const out = new type();
        out[AVRO_VALUE] = value;
        for (const { name, convert } of fields) {
          const field = source[name];
          out[name] = convert ? convert(field) : (field ?? null);
        }
        return out;
      };
      // Cached before its fields are built, so a recursive record type converts through itself.
      if (whole) converters.wholeRecords.set(shape.name, convert);
      const selected: [string, ReadTree | undefined][] = whole
        ? [...shape.fields.keys()].map((name) => [name, undefined])
        : [...tree.fields];
      for (const [name, child] of selected) {
        fields.push({ name, convert: toCel(shape.fields.get(name)!, child, `${path}.${name}`, converters) });
      }
      return convert;
    }
  }
}
