import {
  defineProcessor,
  PlanError,
  recordFields,
  rowSchemaOf,
  Type,
  type AvroRecordSchema,
  type ChangeEvent,
  type Envelope,
  type FieldLineage,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';
import { compileExpression, ExpressionError, type CompiledExpression } from '@datamesh/expression';

const config = Type.Object(
  {
    condition: Type.String({
      minLength: 1,
      description:
        'CEL condition over the event (`before`, `after`, `row`, `op`, `ts_ms`, `source`): the events it is true for are kept; false or null drops them.',
    }),
    mode: Type.Union([Type.Literal('events'), Type.Literal('rows')], {
      default: 'events',
      description:
        'events: keep or drop each change event as the condition says. rows: the condition is over `row` and is tested on both images of a change, which is rewritten so the output is the change stream of the matching rows, as a SQL WHERE over the table (a row updated out of the condition is deleted, one updated into it is created).',
    }),
    tombstones: Type.Union([Type.Literal('keep'), Type.Literal('drop')], {
      default: 'keep',
      description:
        'Tombstones (null value) have no row to test: keep passes them on so compaction downstream still removes the key; drop removes them.',
    }),
    onError: Type.Union([Type.Literal('fail'), Type.Literal('drop'), Type.Literal('keep')], {
      default: 'fail',
      description:
        'An event the condition fails on (a field of a null image, a division by zero): fail sends it to the dead-letter topic with the error; drop and keep treat the condition as false or true.',
    }),
  },
  { additionalProperties: false },
);

function onlyInput(inputs: readonly ProcessorInput[]): ProcessorInput {
  if (inputs.length !== 1) throw new PlanError(`filter takes exactly one input, got ${inputs.length}`);
  return inputs[0]!;
}

function compileCondition(
  condition: string,
  input: { name: string; valueSchema: AvroRecordSchema },
  mode: 'events' | 'rows',
) {
  try {
    return compileExpression(condition, input.valueSchema, {
      resultType: 'bool',
      scope: mode === 'rows' ? 'row' : 'event',
    });
  } catch (error) {
    if (error instanceof ExpressionError) {
      throw new PlanError(`filter condition on ${input.name}: ${error.message}`);
    }
    throw error;
  }
}

/**
 * Keeps the change events a CEL condition holds for. The plan step type-checks the condition against the input's
 * schema (a typo, a type mismatch or a non-bool condition refuses the pipeline, naming the position); the output
 * schemas are the input's, and `consumes` lists the fields the condition reads.
 */
export const filterProcessor = defineProcessor({
  name: 'filter',
  version: '0.1.0',
  description: 'Keeps the change events matching a typed CEL condition.',
  config,
  plan(inputs, cfg) {
    const input = onlyInput(inputs);
    const condition = compileCondition(cfg.condition, input, cfg.mode);
    const lineage: FieldLineage[] = recordFields(rowSchemaOf(input.valueSchema)).map((field) => ({
      output: `after.${field.name}`,
      inputs: [{ input: input.name, field: `after.${field.name}` }],
    }));
    const consumes = condition.inputFields.map((field) => ({ input: input.name, field }));
    return { keySchema: input.keySchema, valueSchema: input.valueSchema, lineage, consumes };
  },
  create(cfg, ctx) {
    const input = ctx.inputs?.[0];
    if (!input)
      throw new Error('filter needs the schemas of its input (ctx.inputs) to compile its condition');
    const condition: CompiledExpression = compileCondition(cfg.condition, input, cfg.mode);
    const errors = ctx.metrics.counter(
      'condition_errors_total',
      'Events the condition failed to evaluate on, by what was done with them (the onError setting).',
      ['action'],
    );
    let warned = false;
    /** Whether to keep an event the condition failed on; throws to dead-letter it. */
    const failed = (error: unknown): boolean => {
      errors.inc({ action: cfg.onError });
      if (cfg.onError === 'fail') throw error;
      if (!warned) {
        warned = true;
        ctx.logger.warn(
          { err: error, onError: cfg.onError },
          'the filter condition failed on an event (later failures are only counted)',
        );
      }
      return cfg.onError === 'keep';
    };
    const holds = (value: Envelope, row?: Row): boolean => {
      let result: unknown;
      try {
        result = row === undefined ? condition.evaluate(value) : condition.evaluate(value, row);
      } catch (error) {
        return failed(error);
      }
      if (result === true) return true;
      if (result === false || result === null) return false;
      return failed(
        new ExpressionError({
          kind: 'evaluation',
          code: 'result_type',
          summary: `the condition gave ${typeof result} ${String(result)}, not a bool`,
          expression: cfg.condition,
        }),
      );
    };
    /**
     * Whether a before image held; undefined when it cannot tell (it fails on an image that carries only the key
     * columns, as a delete under the default replica identity does).
     */
    const wasIn = (value: Envelope, before: Row): boolean | undefined => {
      try {
        const result = condition.evaluate(value, before);
        return result === true ? true : result === false || result === null ? false : undefined;
      } catch {
        return undefined;
      }
    };
    const matches = (event: ChangeEvent): boolean =>
      event.value === null ? cfg.tombstones === 'keep' : holds(event.value);
    return {
      process(events: readonly ChangeEvent[]) {
        if (cfg.mode === 'events') return events.filter(matches);
        const out: ChangeEvent[] = [];
        for (const event of events) {
          const value = event.value;
          if (value === null) {
            if (cfg.tombstones === 'keep') out.push(event);
            continue;
          }
          // A truncate empties the table, matching rows included; it has no row to test.
          if (value.op === 't') {
            out.push(event);
            continue;
          }
          out.push(...asRowChanges(event, value, holds, wasIn));
        }
        return out;
      },
    };
  },
});

/**
 * A change of a table, as a change of the table's rows the condition holds for: kept when it holds before and
 * after, a create when only after, a delete (and a tombstone) when only before, nothing when neither. A change
 * without a `before` image (an update under PostgreSQL's default replica identity) cannot tell whether the row
 * was in: an update that does not hold after becomes a delete whose `before` is the row as it is now, which
 * removes the row downstream if it was there and is harmless if not. A before image the condition cannot be
 * evaluated on counts as unknown in the same way.
 */
function asRowChanges(
  event: ChangeEvent,
  value: Envelope,
  holds: (value: Envelope, row: Row) => boolean,
  wasIn: (value: Envelope, before: Row) => boolean | undefined,
): ChangeEvent[] {
  if (value.op === 'c' || value.op === 'r')
    return value.after !== null && holds(value, value.after) ? [event] : [];
  // Every delete is passed on: its before image may hold only the key (PostgreSQL's default replica identity),
  // which cannot tell whether the row matched, and deleting a row that is not there changes nothing.
  if (value.op === 'd') return [event];
  const inBefore = value.before === null ? undefined : wasIn(value, value.before);
  const inAfter = value.after !== null && holds(value, value.after);
  if (inAfter) {
    return inBefore === false ? [{ ...event, value: { ...value, before: null, op: 'c' } }] : [event];
  }
  if (inBefore === false) return [];
  return [
    { ...event, value: { ...value, before: value.before ?? value.after, after: null, op: 'd' } },
    { key: event.key, value: null, ...(event.headers ? { headers: event.headers } : {}) },
  ];
}
