import {
  defineProcessor,
  PlanError,
  recordFields,
  rowSchemaOf,
  Type,
  unwrapNullable,
  type AvroRecordSchema,
  type AvroSchema,
  type ChangeEvent,
  type FieldLineage,
  type Row,
} from '@datamesh/core';

/**
 * The config schema. This one TypeBox value gives the TypeScript type of `config` below, the JSON Schema editors
 * and the controller use, the docs, and the validation that reports every wrong field with its path before the
 * processor is created. A plugin never reads `process.env`: `${NAME}` in a pipeline fills values from there.
 */
const config = Type.Object(
  {
    field: Type.String({
      minLength: 1,
      description: 'Numeric row field to compare (int, long, float, double).',
    }),
    threshold: Type.Number({ default: 0, description: 'A row whose field is greater than this is flagged.' }),
    flag: Type.String({
      pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
      default: 'flagged',
      description: 'Name of the boolean field added to every row.',
    }),
  },
  { additionalProperties: false },
);

const NUMERIC = new Set(['int', 'long', 'float', 'double']);

/** `"long"`, `["null", "long"]` or `{"type": "long"}`; not a logical type (a timestamp is no amount). */
function isNumeric(type: AvroSchema): boolean {
  const branch = unwrapNullable(type) as unknown;
  if (typeof branch === 'string') return NUMERIC.has(branch);
  const object = typeof branch === 'object' && branch !== null ? (branch as Record<string, unknown>) : {};
  return typeof object['type'] === 'string' && NUMERIC.has(object['type']) && !('logicalType' in object);
}

/** The input's envelope schema with `flag` (a nullable boolean) added to the row record of `before` and `after`. */
function withFlag(envelope: AvroRecordSchema, flag: string): AvroRecordSchema {
  const row = rowSchemaOf(envelope);
  const flagged: AvroRecordSchema = {
    ...row,
    fields: [...row.fields, { name: flag, type: ['null', 'boolean'], default: null }],
  };
  // `after` refers to the row record by its name, so only `before`, where it is defined, changes.
  return {
    ...envelope,
    fields: envelope.fields.map((f) => (f.name === 'before' ? { ...f, type: ['null', flagged] } : f)),
  };
}

/**
 * Flags rows whose `field` is above `threshold`: every row image gets a boolean field `flag` (null when the
 * value is null). Replace the logic with yours; keep the shape: a config schema, a plan, a task.
 */
export const __EXPORT__ = defineProcessor({
  name: '__NAME__',
  version: '0.1.0',
  description: 'Flags rows whose numeric field is above a threshold.',
  config,
  // Runs when a pipeline is validated, before anything starts: input schemas in; the output schemas, where each
  // output field comes from (lineage) and which input fields are read (consumes) out. A PlanError refuses the
  // pipeline with its message.
  plan(inputs, cfg) {
    if (inputs.length !== 1) throw new PlanError(`__NAME__ takes exactly one input, got ${inputs.length}`);
    const input = inputs[0]!;
    const columns = recordFields(rowSchemaOf(input.valueSchema));
    const problems: string[] = [];
    const field = columns.find((c) => c.name === cfg.field);
    if (!field) {
      problems.push(
        `field "${cfg.field}" is not in ${input.name} (fields: ${columns.map((c) => c.name).join(', ')})`,
      );
    } else if (!isNumeric(field.type)) {
      problems.push(`field "${cfg.field}" of ${input.name} is ${JSON.stringify(field.type)}, not a number`);
    }
    if (columns.some((c) => c.name === cfg.flag)) {
      problems.push(`${input.name} already has a field "${cfg.flag}": choose another \`flag\``);
    }
    if (problems.length > 0) throw new PlanError(problems.join('; '));

    const lineage: FieldLineage[] = [
      ...columns.map((c) => ({
        output: `after.${c.name}`,
        inputs: [{ input: input.name, field: `after.${c.name}` }],
      })),
      {
        output: `after.${cfg.flag}`,
        inputs: [{ input: input.name, field: `after.${cfg.field}` }],
        transform: `${cfg.field} > ${cfg.threshold}`,
      },
    ];
    // Both row images are read: `before` gets its flag too.
    const consumes = ['before', 'after'].map((image) => ({
      input: input.name,
      field: `${image}.${cfg.field}`,
    }));
    return {
      keySchema: input.keySchema,
      valueSchema: withFlag(input.valueSchema, cfg.flag),
      lineage,
      consumes,
    };
  },
  // Called once per task with the validated config and the context: ctx.logger (a child logger carrying the
  // pipeline, stage and plugin), ctx.metrics (your own metrics, prefixed and labelled for you), ctx.state (a
  // durable key-value store, for processors defined with `stateful: true`), ctx.signal (aborted on stop).
  create(cfg, ctx) {
    const flaggedEvents = ctx.metrics.counter(
      'flagged_events_total',
      'Events whose new row image was flagged.',
    );
    ctx.logger.debug({ field: cfg.field, threshold: cfg.threshold }, 'flagging rows');
    const flagRow = (row: Row | null): Row | null => {
      if (row === null) return null;
      const value = row[cfg.field];
      const flag = typeof value === 'number' || typeof value === 'bigint' ? value > cfg.threshold : null;
      return { ...row, [cfg.flag]: flag };
    };
    return {
      // Batches of events from `input` (the name plan saw). Return new events: never change the ones given.
      process(events: readonly ChangeEvent[], _input: string) {
        return events.map((event) => {
          if (event.value === null) return event; // a tombstone passes as it is
          const after = flagRow(event.value.after);
          if (after?.[cfg.flag] === true) flaggedEvents.inc();
          return { ...event, value: { ...event.value, before: flagRow(event.value.before), after } };
        });
      },
    };
  },
});
