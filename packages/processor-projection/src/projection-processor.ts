import { defineProcessor, PlanError, type ChangeEvent, type Envelope, type Row } from '@datamesh/core';
import { projectionConfig } from './projection-config.js';
import { planProjection, type OutputField } from './projection-plan.js';

/** A field's value failed for one row image: the event goes to the dead-letter topic with this error. */
export class ProjectionError extends Error {
  constructor(message: string, options: ErrorOptions) {
    super(message, options);
    this.name = 'ProjectionError';
  }
}

function projector(fields: readonly OutputField[]) {
  const project = (row: Row | null, event: Envelope, image: 'before' | 'after'): Row | null => {
    if (row === null) return null;
    const out: Row = {};
    for (const field of fields) {
      try {
        out[field.name] = field.value(row, event);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new ProjectionError(`field "${field.name}" of ${image}: ${reason}`, { cause: error });
      }
    }
    return out;
  };
  return (event: ChangeEvent): ChangeEvent => {
    const value = event.value;
    if (value === null) return event;
    return {
      ...event,
      value: {
        ...value,
        before: project(value.before, value, 'before'),
        after: project(value.after, value, 'after'),
      },
    };
  };
}

/**
 * Selects, renames, casts and derives the fields of the row images. The plan step checks every field against
 * the input schema and derives the output schema and field lineage; the process step applies the same fields
 * to `before` and to `after`, so each image is projected from its own values. The key passes through unchanged.
 */
export const projectionProcessor = defineProcessor({
  name: 'projection',
  version: '0.1.0',
  description: 'Selects, renames, casts and derives fields of the row images.',
  config: projectionConfig,
  plan(inputs, cfg) {
    if (inputs.length !== 1) throw new PlanError(`projection takes exactly one input, got ${inputs.length}`);
    const { keySchema, valueSchema, lineage, consumes } = planProjection(inputs[0]!, cfg);
    return { keySchema, valueSchema, lineage, consumes };
  },
  create(cfg, ctx) {
    const input = ctx.inputs?.[0];
    if (!input) throw new Error('projection needs the schemas of its input (ctx.inputs) to plan its fields');
    const project = projector(planProjection(input, cfg).fields);
    return {
      process(events: readonly ChangeEvent[]) {
        return events.map(project);
      },
    };
  },
});
