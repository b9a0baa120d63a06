import {
  PlanError,
  recordFields,
  rowSchemaOf,
  unwrapNullable,
  type AvroField,
  type AvroRecordSchema,
  type AvroSchema,
  type ConsumedField,
  type Envelope,
  type FieldLineage,
  type ProcessorInputSchemas,
  type Row,
  type StreamSchemas,
} from '@datamesh/core';
import { AvroNames, compileExpression, ExpressionError } from '@datamesh/expression';
import { castOf, type CastTarget } from './field-cast.js';
import type { FieldSpec, ProjectionConfig } from './projection-config.js';

/** How one output field gets its value from a row image (and, for expressions, the event it is in). */
export type FieldValue = (row: Row, event: Envelope) => unknown;

export interface OutputField {
  readonly name: string;
  readonly value: FieldValue;
}

export interface ProjectionPlan extends StreamSchemas {
  readonly lineage: readonly FieldLineage[];
  readonly consumes: readonly ConsumedField[];
  readonly fields: readonly OutputField[];
}

interface PlannedField {
  readonly field: AvroField;
  readonly output: OutputField;
  readonly lineage: FieldLineage;
  /** Envelope fields read: `after.x`, `before.x`, `op`, … */
  readonly reads: readonly string[];
}

function namespaceOf(fullName: string): string | undefined {
  const dot = fullName.lastIndexOf('.');
  return dot < 0 ? undefined : fullName.slice(0, dot);
}

const isNullable = (type: AvroSchema) => Array.isArray(type) && (type as unknown[]).includes('null');

/** The Avro schemas of an input's envelope, with what planning a projection needs to look up. */
class InputRow {
  readonly names: AvroNames;
  readonly rowName: string;
  readonly rowNamespace: string | undefined;
  readonly envelopeNamespace: string | undefined;
  readonly fields: ReadonlyMap<string, AvroField>;
  readonly keyColumns: ReadonlySet<string>;
  readonly input: ProcessorInputSchemas;

  constructor(input: ProcessorInputSchemas) {
    this.input = input;
    const value = input.valueSchema;
    this.names = new AvroNames(value as AvroSchema);
    this.envelopeNamespace = value.namespace ?? namespaceOf(value.name);
    const row = rowSchemaOf(value);
    this.rowName = this.names.fullNameOf(row as AvroSchema, this.envelopeNamespace)!;
    this.rowNamespace = namespaceOf(this.rowName);
    this.fields = new Map(recordFields(row).map((field) => [field.name, field]));
    this.keyColumns = new Set(input.keySchema.fields.map((field) => field.name));
  }

  /** The type of a field, written so it stands on its own in the output. */
  typeOf(field: AvroField, defined: Set<string>): AvroSchema {
    return this.names.standalone(field.type, this.rowNamespace, defined);
  }
}

function copyField(row: InputRow, spec: FieldSpec, source: AvroField, defined: Set<string>): PlannedField {
  const from = source.name;
  const doc = spec.doc ?? source.doc;
  return {
    field: {
      name: spec.name,
      type: row.typeOf(source, defined),
      ...(source.default !== undefined ? { default: source.default } : {}),
      ...(doc !== undefined ? { doc } : {}),
    },
    output: { name: spec.name, value: (image) => image[from] ?? null },
    lineage: { output: `after.${spec.name}`, inputs: [{ input: row.input.name, field: `after.${from}` }] },
    reads: [`after.${from}`, `before.${from}`],
  };
}

function castField(
  row: InputRow,
  spec: FieldSpec,
  source: AvroField,
  target: CastTarget,
): PlannedField | string {
  const resolved = row.names.resolve(unwrapNullable(source.type), row.rowNamespace).schema;
  const cast = castOf(resolved, target);
  if ('problem' in cast) return `field "${spec.name}": ${cast.problem}`;
  const from = source.name;
  const nullable = isNullable(source.type);
  return {
    field: {
      name: spec.name,
      type: nullable ? (['null', target] as AvroSchema) : target,
      ...(nullable ? { default: null } : {}),
      ...(spec.doc !== undefined ? { doc: spec.doc } : {}),
    },
    output: {
      name: spec.name,
      value: (image) => {
        const value = image[from];
        return value === null || value === undefined ? null : cast(value);
      },
    },
    lineage: {
      output: `after.${spec.name}`,
      inputs: [{ input: row.input.name, field: `after.${from}` }],
      transform: `cast to ${target}`,
    },
    reads: [`after.${from}`, `before.${from}`],
  };
}

function exprField(
  row: InputRow,
  spec: FieldSpec,
  expr: string,
  defined: Set<string>,
): PlannedField | string {
  try {
    const compiled = compileExpression(expr, row.input.valueSchema, { scope: 'row' });
    const type = compiled.resultSchema(defined);
    return {
      field: {
        name: spec.name,
        type,
        ...(isNullable(type) ? { default: null } : {}),
        ...(spec.doc !== undefined ? { doc: spec.doc } : {}),
      },
      output: { name: spec.name, value: (image, event) => compiled.evaluate(event, image) },
      lineage: {
        output: `after.${spec.name}`,
        inputs: compiled.inputFields
          .filter((field) => !field.startsWith('before.'))
          .map((field) => ({ input: row.input.name, field })),
        transform: `cel: ${expr}`,
      },
      reads: compiled.inputFields,
    };
  } catch (error) {
    if (error instanceof ExpressionError) return `field "${spec.name}": ${error.message}`;
    throw error;
  }
}

/** What is wrong with a spec on its own or against the input, before its value is planned. */
function specProblem(row: InputRow, spec: FieldSpec): string | undefined {
  if (spec.expr !== undefined && (spec.from !== undefined || spec.cast !== undefined)) {
    return `field "${spec.name}": give either expr, or from (with or without cast), not both`;
  }
  if (spec.expr === undefined && !row.fields.has(spec.from ?? spec.name)) {
    return `field "${spec.name}": ${row.input.name} has no field "${spec.from ?? spec.name}" (fields: ${[...row.fields.keys()].join(', ')})`;
  }
  const copiesItself =
    spec.expr === undefined && spec.cast === undefined && (spec.from ?? spec.name) === spec.name;
  if (row.keyColumns.has(spec.name) && !copiesItself) {
    return (
      `field "${spec.name}" has the name of a key column but another value: the key passes through unchanged, ` +
      'so the row and its key would disagree; give the field another name'
    );
  }
  return undefined;
}

function planField(row: InputRow, spec: FieldSpec, defined: Set<string>): PlannedField | string {
  const problem = specProblem(row, spec);
  if (problem) return problem;
  if (spec.expr !== undefined) return exprField(row, spec, spec.expr, defined);
  const source = row.fields.get(spec.from ?? spec.name)!;
  return spec.cast === undefined
    ? copyField(row, spec, source, defined)
    : castField(row, spec, source, spec.cast);
}

/** The envelope of the projected rows: the input's, with the new row record in `before` and `after`. */
function outputEnvelope(row: InputRow, fields: readonly AvroField[], defined: Set<string>): AvroRecordSchema {
  const value = row.input.valueSchema;
  const source = rowSchemaOf(value);
  const record = { type: 'record', name: row.rowName, ...(source.doc ? { doc: source.doc } : {}), fields };
  let recordPlaced = false;
  const envelopeFields = value.fields.map((field): AvroField => {
    if (field.name !== 'before' && field.name !== 'after') {
      return { ...field, type: row.names.standalone(field.type, row.envelopeNamespace, defined) };
    }
    const type = recordPlaced ? row.rowName : record;
    recordPlaced = true;
    return { ...field, type: ['null', type] as AvroSchema };
  });
  return { ...value, fields: envelopeFields };
}

/**
 * Plans a projection of `input`: checks every field spec (all problems reported at once in a PlanError), derives
 * the output schemas, field lineage and consumed fields, and how each output field gets its value.
 */
export function planProjection(input: ProcessorInputSchemas, cfg: ProjectionConfig): ProjectionPlan {
  const row = new InputRow(input);
  const problems: string[] = [];
  const names = cfg.fields.map((spec) => spec.name);
  const twice = [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
  if (twice.length > 0)
    problems.push(`fields ${twice.map((name) => `"${name}"`).join(', ')} are listed more than once`);

  // The output row record takes the input row's name; the types its fields define are defined in it.
  const defined = new Set([row.rowName]);
  const planned: PlannedField[] = [];
  for (const spec of cfg.fields) {
    const result = planField(row, spec, defined);
    if (typeof result === 'string') problems.push(result);
    else planned.push(result);
  }
  if (cfg.others === 'keep') {
    const renamed = new Set(
      cfg.fields.flatMap((spec) => (spec.from !== undefined && spec.cast === undefined ? [spec.from] : [])),
    );
    for (const field of row.fields.values()) {
      if (names.includes(field.name) || renamed.has(field.name)) continue;
      planned.push(copyField(row, { name: field.name }, field, defined));
    }
  }
  if (problems.length > 0) {
    throw new PlanError(
      problems.length === 1
        ? `projection of ${input.name}: ${problems[0]}`
        : `projection of ${input.name}:\n- ${problems.join('\n- ')}`,
    );
  }

  const reads = new Set(planned.flatMap((field) => field.reads));
  return {
    keySchema: input.keySchema,
    valueSchema: outputEnvelope(
      row,
      planned.map((field) => field.field),
      defined,
    ),
    lineage: planned.map((field) => field.lineage),
    consumes: [...reads].sort().map((field) => ({ input: input.name, field })),
    fields: planned.map((field) => field.output),
  };
}
