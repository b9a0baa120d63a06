import type { AvroRecordSchema, AvroSchema, Envelope, Row } from '@datamesh/core';
import type { ParseResult } from '@marcbachmann/cel-js';
import { readTrees, toCel } from './activation.js';
import { AvroNames } from './avro-names.js';
import { ShapeBuilder, type Shape, type ToCel } from './avro-shapes.js';
import { celEnvironment } from './cel-environment.js';
import { fromCelError, type ErrorContext } from './cel-errors.js';
import { NullRecordError } from './cel-records.js';
import { avroTypeOf, fromCel, NoAvroTypeError, parseCelType, type FromCel } from './cel-results.js';
import { ExpressionError } from './expression-error.js';
import { readPaths } from './read-paths.js';

/**
 * What an expression sees.
 * - `event`: `before`, `after` (null when the event has no such image), `row` (`after`, or `before` for a
 *   delete: the row the event is about), `op`, `ts_ms`, `source`.
 * - `row`: `row` (one row image, never null: a processor applies the expression to each image it transforms),
 *   `op`, `ts_ms`, `source`.
 */
export type ExpressionScope = 'event' | 'row';

export interface CompileOptions {
  readonly scope?: ExpressionScope;
  /**
   * The CEL type the result must have, e.g. `bool` for a condition. A nullable result of it (`dyn<bool>`) and a
   * result known only at evaluation (`dyn`) are accepted: the caller decides what null or another type means.
   */
  readonly resultType?: string;
}

export interface CompiledExpression {
  readonly expression: string;
  readonly scope: ExpressionScope;
  /** The CEL type of the result: `bool`, `int`, `dyn<string>` (a nullable string), `list<double>`, … */
  readonly celType: string;
  /** The variable paths the expression reads, as written: `row.amount`, `op`, `after.address.city`. */
  readonly reads: readonly string[];
  /**
   * The envelope fields it reads (`after.amount`, `before.amount`, `op`, `source.table`): `row.x` reads both
   * images' `x`, and a row image read as a whole reads each of its columns.
   */
  readonly inputFields: readonly string[];
  /**
   * The Avro type of the result. `defined` holds the full names of the named types already defined in the schema
   * the type goes into (they are referenced, not defined again) and receives the ones this type defines.
   * Throws an ExpressionError when the result has no Avro type (a `dyn`, a duration).
   */
  resultSchema(defined?: Set<string>): AvroSchema;
  /**
   * Evaluates the expression on a change event (`row` is the image to evaluate against in the `row` scope) and
   * returns its result as avsc holds a value of resultSchema(): ints as numbers, timestamps as epoch millis.
   * Throws an ExpressionError (kind `evaluation`) when it fails.
   */
  evaluate(event: Envelope, row?: Row | null): unknown;
}

const WHY_NULL: Readonly<Record<string, string>> = {
  after: 'deletes and truncates have no "after" image',
  before:
    'creates, snapshot reads and truncates have no "before" image, nor do updates from a source that does not capture it',
  row: 'a truncate has no row image',
};

const EVENT_VARIABLES = ['before', 'after', 'row', 'op', 'ts_ms', 'source'];
const ROW_VARIABLES = ['row', 'op', 'ts_ms', 'source'];

type Source = (event: Envelope, row: Row | null | undefined) => unknown;

function sourceOf(name: string, scope: ExpressionScope): Source {
  if (name !== 'row') return (event) => (event as unknown as Record<string, unknown>)[name];
  if (scope === 'event') return (event) => event.after ?? event.before;
  return (_event, row) => {
    if (row === undefined)
      throw new Error('an expression in the row scope is evaluated with the row image to read');
    return row;
  };
}

/** The variables a scope declares, with their shapes, from the input's envelope schema. */
function scopeVariables(
  envelope: AvroRecordSchema,
  scope: ExpressionScope,
  shapes: ShapeBuilder,
): Map<string, Shape> {
  const namespace =
    envelope.namespace ??
    (envelope.name.includes('.') ? envelope.name.slice(0, envelope.name.lastIndexOf('.')) : undefined);
  const fields = new Map(envelope.fields.map((field) => [field.name, field]));
  const image = fields.get('before') ?? fields.get('after');
  if (!image)
    throw new Error(`schema ${envelope.name} is not a change-event envelope (no "before" or "after")`);
  const variables = new Map<string, Shape>();
  for (const name of scope === 'event' ? EVENT_VARIABLES : ROW_VARIABLES) {
    if (name === 'row') {
      const row = shapes.shapeOf(image.type, namespace);
      variables.set(name, scope === 'row' ? { ...row, nullable: false } : row);
      continue;
    }
    const field = fields.get(name);
    if (field) variables.set(name, shapes.shapeOf(field.type, namespace));
  }
  return variables;
}

function inputFieldsOf(
  paths: readonly (readonly string[])[],
  variables: ReadonlyMap<string, Shape>,
): string[] {
  const out = new Set<string>();
  for (const [variable, ...rest] of paths) {
    const shape = variables.get(variable!)!;
    // `row` is one of the two images, whichever the event has: it reads both.
    for (const head of variable === 'row' ? ['after', 'before'] : [variable!]) {
      if (rest.length === 0 && (head === 'after' || head === 'before') && shape.kind === 'record') {
        for (const column of shape.fields.keys()) out.add(`${head}.${column}`);
      } else {
        out.add([head, ...rest].join('.'));
      }
    }
  }
  return [...out].sort();
}

/**
 * Compiles a CEL expression against a processor input's envelope schema: parses it, type-checks it against the
 * input's Avro types, and finds the fields it reads. Throws an ExpressionError (kind `syntax` or `type`) naming
 * the position of what is wrong.
 */
export function compileExpression(
  expression: string,
  valueSchema: AvroRecordSchema,
  options: CompileOptions = {},
): CompiledExpression {
  const scope = options.scope ?? 'event';
  const names = new AvroNames(valueSchema as AvroSchema);
  const shapes = new ShapeBuilder(names);
  const variables = scopeVariables(valueSchema, scope, shapes);
  const { env, classes } = celEnvironment(variables, shapes.records);
  const context = { expression, variables: [...variables.keys()], records: shapes.records };

  let parsed: ParseResult;
  try {
    parsed = env.parse(expression);
  } catch (error) {
    throw fromCelError(error, 'syntax', context);
  }
  const checked = parsed.check();
  if (!checked.valid) throw fromCelError(checked.error, 'type', context);
  const celType = checked.type!;
  if (options.resultType !== undefined) checkResultType(expression, celType, options.resultType);

  const paths = readPaths(parsed.ast, variables);
  const trees = readTrees(paths);
  const converters = {
    classes,
    whyNull: (path: string) => WHY_NULL[path],
    wholeRecords: new Map<string, ToCel>(),
  };
  const bindings = [...trees].map(([name, tree]) => ({
    name,
    source: sourceOf(name, scope),
    convert: toCel(variables.get(name)!, tree, name, converters),
  }));
  const resultType = parseCelType(celType);
  const toAvro: FromCel = fromCel(resultType);

  return {
    expression,
    scope,
    celType,
    reads: paths.map((path) => path.join('.')),
    inputFields: inputFieldsOf(paths, variables),
    resultSchema(defined = new Set<string>()) {
      try {
        return avroTypeOf(resultType, { names, records: shapes.records }, defined);
      } catch (error) {
        if (!(error instanceof NoAvroTypeError)) throw error;
        throw new ExpressionError({
          kind: 'type',
          code: 'no_avro_type',
          summary: error.message,
          expression,
          start: 0,
          end: expression.length,
        });
      }
    },
    evaluate(event, row) {
      const activation: Record<string, unknown> = {};
      try {
        for (const { name, source, convert } of bindings) {
          const value = source(event, row);
          activation[name] = convert ? convert(value) : value;
        }
        return toAvro(parsed(activation));
      } catch (error) {
        throw evaluationError(error, context);
      }
    },
  };
}

function checkResultType(expression: string, celType: string, expected: string): void {
  if ([expected, `dyn<${expected}>`, 'dyn'].includes(celType)) return;
  throw new ExpressionError({
    kind: 'type',
    code: 'result_type',
    summary: `the expression must give a ${expected}, but gives a ${celType}`,
    expression,
    start: 0,
    end: expression.length,
  });
}

function evaluationError(error: unknown, context: ErrorContext): ExpressionError {
  if (error instanceof NullRecordError) {
    return new ExpressionError({
      kind: 'evaluation',
      code: 'null_record',
      summary: error.message,
      expression: context.expression,
      cause: error,
    });
  }
  if (error instanceof Error && !('code' in error)) {
    return new ExpressionError({
      kind: 'evaluation',
      code: 'error',
      summary: error.message,
      expression: context.expression,
      cause: error,
    });
  }
  return fromCelError(error, 'evaluation', context);
}
