import {
  defineProcessor,
  PlanError,
  recordFields,
  rowSchemaOf,
  Type,
  type ChangeEvent,
  type ConsumedField,
  type FieldLineage,
  type ProcessorInput,
  type Row,
  type Static,
} from '@datamesh/core';
import { unionSchemas } from './schema-merge.js';

const config = Type.Object(
  {
    originField: Type.String({
      pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
      default: '_input',
      description: 'Row field (a string) telling the input each event came from; an Avro field name.',
    }),
    origins: Type.Record(Type.String(), Type.String({ minLength: 1 }), {
      default: {},
      description:
        'Label per input, by its name in the pipeline (`<source stage>/<stream>` or `<processor stage>`); an input without one is labelled by its name.',
    }),
    originInKey: Type.Boolean({
      default: true,
      description:
        'Append the origin field to the key too, so equal keys of different inputs stay different rows; false when the inputs share one key space.',
    }),
  },
  { additionalProperties: false },
);

type UnionConfig = Static<typeof config>;

const labelOf = (cfg: UnionConfig, input: string): string => cfg.origins[input] ?? input;

function inputProblems(names: readonly string[], cfg: UnionConfig): string[] {
  const problems: string[] = [];
  const twice = [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
  if (twice.length > 0) problems.push(`${twice.join(', ')} is listed more than once`);
  for (const name of Object.keys(cfg.origins)) {
    if (!names.includes(name)) problems.push(`origins names "${name}", which is not one of the inputs`);
  }
  const byLabel = new Map<string, string[]>();
  for (const name of new Set(names)) {
    const label = labelOf(cfg, name);
    byLabel.set(label, [...(byLabel.get(label) ?? []), name]);
  }
  for (const [label, same] of byLabel) {
    if (same.length > 1) problems.push(`${same.join(' and ')} have the same origin label "${label}"`);
  }
  return problems;
}

interface Fillers {
  readonly row?: Row;
  readonly source?: Row;
  readonly envelope?: Row;
}

/** Per input, the nulls of the output fields it lacks (absent where it lacks none). */
function nullFillers(cfg: UnionConfig, inputs: readonly ProcessorInput[]): Map<string, Fillers> {
  const merged = unionSchemas(inputs, { field: cfg.originField, inKey: cfg.originInKey });
  if ('problems' in merged) throw new Error(`union cannot merge its inputs: ${merged.problems.join('; ')}`);
  const nulls = (fields: readonly string[]): Row | undefined =>
    fields.length === 0 ? undefined : Object.fromEntries(fields.map((f) => [f, null]));
  const fillers = new Map<string, Fillers>();
  for (const [input, lacking] of merged.lacking) {
    const [row, source, envelope] = [nulls(lacking.row), nulls(lacking.source), nulls(lacking.envelope)];
    fillers.set(input, { ...(row && { row }), ...(source && { source }), ...(envelope && { envelope }) });
  }
  return fillers;
}

/**
 * Merges several inputs into one stream. The plan step builds the schema every input's events can be written
 * as (see schema-merge.ts) and refuses inputs that have none; the process step adds the origin field to the
 * row images (and the key), sets the fields an input lacks to null, and copies the rest.
 */
export const unionProcessor = defineProcessor({
  name: 'union',
  version: '0.1.0',
  description:
    'Merges inputs with compatible schemas into one stream, with a field telling where each event came from.',
  config,
  plan(inputs, cfg) {
    if (inputs.length < 2) throw new PlanError(`union takes two inputs or more, got ${inputs.length}`);
    const names = inputs.map((input) => input.name);
    const problems = inputProblems(names, cfg);
    const merged = unionSchemas(inputs, { field: cfg.originField, inKey: cfg.originInKey });
    if ('problems' in merged) problems.push(...merged.problems);
    if (problems.length > 0 || 'problems' in merged) {
      throw new PlanError(`cannot union ${names.join(', ')}: ${problems.join('; ')}`);
    }
    const lineage: FieldLineage[] = [...merged.rowFields].map(([field, from]) => ({
      output: `after.${field}`,
      inputs: from.map((input) => ({ input, field: `after.${field}` })),
    }));
    lineage.push({
      output: `after.${cfg.originField}`,
      inputs: [],
      transform: `origin label: ${names.map((name) => `${name} = "${labelOf(cfg, name)}"`).join(', ')}`,
    });
    // The union copies every field of every input, and the type of each decides whether it can: it depends on
    // all of them. It reads `op` to drop truncates.
    const consumes: ConsumedField[] = inputs.flatMap((input) => {
      const columns = recordFields(rowSchemaOf(input.valueSchema)).map((f) => f.name);
      const source = recordFields(input.valueSchema.fields.find((f) => f.name === 'source')!.type);
      return [
        ...['before', 'after'].flatMap((image) => columns.map((c) => `${image}.${c}`)),
        ...source.map((f) => `source.${f.name}`),
        ...input.valueSchema.fields
          .map((f) => f.name)
          .filter((name) => !['before', 'after', 'source'].includes(name)),
      ].map((field) => ({ input: input.name, field }));
    });
    return { keySchema: merged.keySchema, valueSchema: merged.valueSchema, lineage, consumes };
  },
  create(cfg, ctx) {
    const field = cfg.originField;
    // Without ctx.inputs (a runtime older than it) rows stay as they come: writing them to a topic still fills
    // the nulls, as Avro defaults; only processors fused after the union would see those fields absent.
    const fillers = ctx.inputs ? nullFillers(cfg, ctx.inputs) : new Map<string, Fillers>();
    const truncates = ctx.metrics.counter(
      'truncates_dropped_total',
      'Truncate events dropped: in the merged stream a truncate would clear the rows of every input.',
      ['input'],
    );
    return {
      process(events: readonly ChangeEvent[], input: string) {
        const label = labelOf(cfg, input);
        const fill = fillers.get(input);
        // The nulls go first: an event written after its input's schema gained the field keeps its value.
        const tag = (row: Row | null): Row | null =>
          row === null ? null : { ...fill?.row, ...row, [field]: label };
        const out: ChangeEvent[] = [];
        for (const event of events) {
          if (event.value?.op === 't') {
            truncates.inc({ input });
            ctx.logger.warn({ input }, 'union dropped a truncate of one input; its rows stay downstream');
            continue;
          }
          out.push({
            ...event,
            key: cfg.originInKey && event.key !== null ? { ...event.key, [field]: label } : event.key,
            value:
              event.value === null
                ? null
                : {
                    ...fill?.envelope,
                    ...event.value,
                    before: tag(event.value.before),
                    after: tag(event.value.after),
                    ...(fill?.source ? { source: { ...fill.source, ...event.value.source } } : {}),
                  },
          });
        }
        return out;
      },
    };
  },
});
