/**
 * CEL values of Avro records. cel-js knows a message type by its constructor, so each record type gets a class
 * of its own; an instance carries the fields the expression reads, converted for CEL, and the Avro value it
 * was made from (so a record an expression returns goes back out exactly as it came in).
 */

/** The Avro value a record instance was made from. */
export const AVRO_VALUE = Symbol('datamesh.avroValue');
const IS_NULL = Symbol('datamesh.nullRecord');

export type RecordClass = new () => Record<string | symbol, unknown>;

export function recordClass(fullName: string): RecordClass {
  const name = fullName.slice(fullName.lastIndexOf('.') + 1);
  // A named class, so a value shows as its record's name in a debugger.
  return { [name]: class {} }[name] as RecordClass;
}

/** Reading a field of a record that is null: `after.amount` of a delete. */
export class NullRecordError extends Error {
  readonly path: string;

  constructor(path: string, field: string, why: string | undefined) {
    super(`${path} is null${why ? ` (${why})` : ''}, so ${path}.${field} cannot be read`);
    this.name = 'NullRecordError';
    this.path = path;
  }
}

/**
 * The stand-in for a null record at `path`: a value of the record's class (so it type-checks as the record)
 * that equals `null` and throws a NullRecordError naming the path when a field of it is read.
 */
export function nullRecord(type: RecordClass, path: string, why?: string): Record<string | symbol, unknown> {
  return new Proxy(Object.create(type.prototype) as Record<string | symbol, unknown>, {
    get(target, key) {
      if (key === IS_NULL) return true;
      if (typeof key === 'symbol' || key === 'constructor') return Reflect.get(target, key);
      throw new NullRecordError(path, key, why);
    },
  });
}

export function isNullRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[IS_NULL] === true;
}
