import { defineProcessor, PlanError, Type, recordFields, rowSchemaOf } from '@datamesh/core';

export const shoutProcessor = defineProcessor({
  name: 'shout',
  version: '1.2.3',
  description: 'Upper-cases chosen string fields.',
  config: Type.Object(
    { fields: Type.Array(Type.String(), { minItems: 1 }) },
    { additionalProperties: false },
  ),
  plan(inputs, config) {
    if (inputs.length !== 1) throw new PlanError('shout takes one input');
    const names = recordFields(rowSchemaOf(inputs[0].valueSchema)).map((f) => f.name);
    const missing = config.fields.filter((f) => !names.includes(f));
    if (missing.length) throw new PlanError(`no field(s) ${missing.join(', ')} in ${inputs[0].name}`);
    return {
      keySchema: inputs[0].keySchema,
      valueSchema: inputs[0].valueSchema,
      lineage: names.map((n) => ({
        output: `after.${n}`,
        inputs: [{ input: inputs[0].name, field: `after.${n}` }],
      })),
    };
  },
  create(config, ctx) {
    const shouted = ctx.metrics.counter('shouted_fields_total', 'Fields upper-cased.');
    const up = (row) => {
      if (!row) return row;
      const out = { ...row };
      for (const f of config.fields)
        if (typeof out[f] === 'string') {
          out[f] = out[f].toUpperCase();
          shouted.inc();
        }
      return out;
    };
    return {
      process: (events) =>
        events.map((e) =>
          e.value ? { ...e, value: { ...e.value, before: up(e.value.before), after: up(e.value.after) } } : e,
        ),
    };
  },
});
