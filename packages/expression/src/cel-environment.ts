import { Environment } from '@marcbachmann/cel-js';
import { TIMESTAMP, type RecordShape, type Shape } from './avro-shapes.js';
import { isNullRecord, recordClass, type RecordClass } from './cel-records.js';

export interface CelEnvironment {
  readonly env: Environment;
  /** The class of each record type, by CEL type name. */
  readonly classes: ReadonlyMap<string, RecordClass>;
}

const SYNC = { async: false } as const;

/**
 * A cel-js environment declaring `variables` with their shapes' types, each record type as a message type (with
 * `== null` / `!= null`), and nothing else the expression could reach: no undeclared variables, no I/O.
 */
export function celEnvironment(
  variables: ReadonlyMap<string, Shape>,
  records: ReadonlyMap<string, RecordShape>,
): CelEnvironment {
  const env = new Environment({ unlistedVariablesAreDyn: false, enableOptionalTypes: false });
  const classes = new Map<string, RecordClass>();
  for (const record of records.values()) {
    const type = recordClass(record.name);
    classes.set(record.name, type);
    const fields = Object.fromEntries([...record.fields].map(([name, shape]) => [name, shape.celType]));
    env.registerType(record.name, { ctor: type, fields });
    env.registerOperator(`${record.name} == null`, (value: unknown) => isNullRecord(value));
  }
  // CEL's int(timestamp): seconds since the epoch (cel-js lacks it).
  env.registerFunction(
    `int(${TIMESTAMP}): int`,
    (value: Date) => BigInt(Math.floor(value.getTime() / 1000)),
    SYNC,
  );
  for (const [name, shape] of variables) env.registerVariable(name, shape.celType);
  return { env, classes };
}
