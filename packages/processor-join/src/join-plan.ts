import {
  avroType,
  envelopeSchemas,
  PlanError,
  recordFields,
  rowSchemaOf,
  unwrapNullable,
  type AvroField,
  type AvroSchema,
  type ConsumedField,
  type FieldLineage,
  type ProcessorInputSchemas,
  type ProcessorPlan,
  type Row,
} from '@datamesh/core';
import type { JoinConfig } from './join-config.js';

/** What the join task needs to know of its inputs, worked out once from the planned inputs. */
export interface JoinLayout {
  readonly kind: JoinConfig['kind'];
  readonly left: {
    readonly name: string;
    readonly joinColumns: readonly string[];
    /** The left row's columns, with the value a stored row written before a column was added takes. */
    readonly columns: readonly { readonly name: string; readonly missing: unknown }[];
  };
  readonly right: {
    readonly name: string;
    /** The right key columns, in the order of `on`. */
    readonly joinColumns: readonly string[];
    /** Right column → output column. */
    readonly copied: readonly { readonly from: string; readonly to: string }[];
    /** Windowed joins only: the right key columns → their names in the output key. */
    readonly keyFields: readonly { readonly from: string; readonly to: string }[];
  };
  readonly window?: NonNullable<JoinConfig['window']>;
}

/**
 * Checks the inputs and the config against each other and derives the output: the left input's key, and an
 * envelope whose row is the left row followed by the chosen right columns (nullable for a left join). Every
 * problem is reported at once.
 */
export function planJoin(
  inputs: readonly ProcessorInputSchemas[],
  config: JoinConfig,
): { plan: ProcessorPlan; layout: JoinLayout } {
  if (inputs.length !== 2) {
    throw new PlanError(
      `join takes two inputs, the left first and the right (${config.window ? 'stream' : 'table'}) second; got ${inputs.length}`,
    );
  }
  const [left, right] = inputs as [ProcessorInputSchemas, ProcessorInputSchemas];
  const leftRow = rowSchemaOf(left.valueSchema);
  const rightRow = rowSchemaOf(right.valueSchema);
  const leftFields = new Map(leftRow.fields.map((f) => [f.name, f]));
  const rightFields = new Map(rightRow.fields.map((f) => [f.name, f]));
  const rightKey = recordFields(right.keySchema).map((f) => f.name);
  const problems: string[] = [];
  const list = (names: Iterable<string>) => [...names].join(', ');

  for (const { left: l, right: r } of config.on) {
    const lf = leftFields.get(l);
    const rf = rightFields.get(r);
    if (!lf)
      problems.push(`left input ${left.name} has no column "${l}" (columns: ${list(leftFields.keys())})`);
    if (!rf)
      problems.push(`right input ${right.name} has no column "${r}" (columns: ${list(rightFields.keys())})`);
    if (lf && rf && !sameValueType(lf.type, rf.type)) {
      problems.push(
        `"${l}" of ${left.name} is ${describe(lf.type)} but "${r}" of ${right.name} is ${describe(rf.type)}: they can never be equal`,
      );
    }
  }
  const onRight = config.on.map((o) => o.right);
  const tableLookup = config.window === undefined;
  if (
    tableLookup &&
    (new Set(onRight).size !== onRight.length || [...rightKey].sort().join() !== [...onRight].sort().join())
  ) {
    problems.push(
      `the right input ${right.name} is a table looked up by its key (${list(rightKey)}): "on" must pair a left column with each key column, once (or join two streams in a "window")`,
    );
  }
  // A windowed join's output rows are pairs: keyed by both rows' keys.
  const leftKey = recordFields(left.keySchema);
  const keyFields = tableLookup
    ? []
    : recordFields(right.keySchema).map((f) => ({ from: f.name, to: `${config.prefix}${f.name}` }));
  for (const { from, to } of keyFields) {
    if (leftKey.some((f) => f.name === to)) {
      problems.push(
        `right key column "${from}" would be output as key field "${to}", which the left key already has: set "prefix"`,
      );
    }
  }
  // By default every right column but the key, which equals the left join columns.
  const chosen = config.fields ?? [...rightFields.keys()].filter((name) => !onRight.includes(name));
  const copied: { from: string; to: string }[] = [];
  for (const name of chosen) {
    if (!rightFields.has(name)) {
      problems.push(
        `right input ${right.name} has no column "${name}" to add (columns: ${list(rightFields.keys())})`,
      );
      continue;
    }
    const to = `${config.prefix}${name}`;
    if (leftFields.has(to)) {
      problems.push(
        `right column "${name}" would be output as "${to}", which the left input already has: set "prefix" (e.g. "${right.name.split(/[/.]/).pop()}_")`,
      );
    }
    copied.push({ from: name, to });
  }
  if (config.partitioned && config.window) {
    problems.push('a windowed join runs on one node at a time: remove "partitioned" (or the window)');
  }
  if (problems.length > 0) throw new PlanError(problems.join('; '));

  const rightOutputFields: AvroField[] = copied.map(({ from, to }) => {
    const field = rightFields.get(from)!;
    // In a left join an unmatched row has no right values; an inner join's right side is always there.
    if (config.kind === 'inner') return { ...field, name: to };
    return { name: to, type: nullFirst(field.type), default: null };
  });
  const name = `${left.valueSchema.namespace ?? left.valueSchema.name}_join`;
  let schemas;
  try {
    const envelope = envelopeSchemas({
      name,
      fields: [...leftRow.fields.map((f) => ({ ...f })), ...rightOutputFields],
      keyFields: [],
    }).valueSchema;
    // Output events carry the left input's `source` block, so its connector's own fields stay.
    const leftSource = left.valueSchema.fields.find((f) => f.name === 'source');
    const valueSchema = {
      ...envelope,
      fields: envelope.fields.map((f) => (f.name === 'source' && leftSource ? { ...leftSource } : f)),
    };
    // A table lookup keeps the left input's key (each output row is a left row); a windowed join's rows are
    // pairs, keyed by both keys (the right part null in a left join's unmatched rows).
    const keySchema = tableLookup
      ? left.keySchema
      : {
          ...left.keySchema,
          name: 'Key',
          namespace: `${left.valueSchema.namespace ?? left.valueSchema.name}_join`,
          fields: [
            ...leftKey.map((f) => ({ ...f })),
            ...keyFields.map(({ from, to }) => {
              const field = recordFields(right.keySchema).find((f) => f.name === from)!;
              return config.kind === 'left'
                ? { name: to, type: nullFirst(field.type), default: null }
                : { ...field, name: to };
            }),
          ],
        };
    schemas = { keySchema, valueSchema };
    avroType(schemas.keySchema);
    avroType(schemas.valueSchema);
  } catch (error) {
    throw new PlanError(
      `the joined row of ${left.name} and ${right.name} is not a valid Avro record: ${(error as Error).message}`,
    );
  }

  const lineage: FieldLineage[] = [
    ...leftRow.fields.map((f) => ({
      output: `after.${f.name}`,
      inputs: [{ input: left.name, field: `after.${f.name}` }],
    })),
    ...copied.map(({ from, to }) => ({
      output: `after.${to}`,
      inputs: [{ input: right.name, field: `after.${from}` }],
      transform: `${config.kind} join on ${config.on.map((o) => `${o.left} = ${o.right}`).join(' and ')}${config.window ? ` within ${config.window.withinMs} ms` : ''}`,
    })),
  ];
  const consumes: ConsumedField[] = [
    ...leftRow.fields.map((f) => ({ input: left.name, field: `after.${f.name}` })),
    ...Array.from(new Set([...onRight, ...copied.map((c) => c.from)]), (f) => ({
      input: right.name,
      field: `after.${f}`,
    })),
    { input: left.name, field: 'op' },
    { input: right.name, field: 'op' },
  ];
  return {
    plan: { ...schemas, lineage, consumes },
    layout: {
      kind: config.kind,
      left: {
        name: left.name,
        joinColumns: config.on.map((o) => o.left),
        columns: leftRow.fields.map((f) => ({ name: f.name, missing: f.default ?? null })),
      },
      right: { name: right.name, joinColumns: onRight, copied, keyFields },
      ...(config.window ? { window: config.window } : {}),
    },
  };
}

/** A nullable type with `null` first, so that `null` can be its default. */
function nullFirst(type: AvroSchema): AvroSchema {
  const branches = Array.isArray(type) ? (type as AvroSchema[]) : [type];
  return ['null', ...branches.filter((b) => b !== 'null')] as AvroSchema;
}

/** The type of a column's values, ignoring nullability and how the type is spelled. */
function valueType(type: AvroSchema): string {
  const bare = unwrapNullable(type);
  if (typeof bare === 'string') return bare === 'int' ? 'long' : bare;
  const object = bare as { type?: unknown; logicalType?: unknown };
  if (typeof object.type === 'string') {
    const base = object.type === 'int' ? 'long' : object.type;
    return object.logicalType ? `${base}/${String(object.logicalType)}` : base;
  }
  return JSON.stringify(bare);
}

function sameValueType(a: AvroSchema, b: AvroSchema): boolean {
  return valueType(a) === valueType(b);
}

function describe(type: AvroSchema): string {
  return valueType(type).replace('/', ' ');
}

/** The output's left columns of a stored left row: a column added since it was stored takes its default. */
export function leftColumnsOf(layout: JoinLayout, left: Row): Row {
  const row: Row = {};
  for (const { name, missing } of layout.left.columns) row[name] = name in left ? left[name] : missing;
  return row;
}
