import { createHmac } from 'node:crypto';
import {
  defineProcessor,
  PlanError,
  recordFields,
  rowSchemaOf,
  Type,
  unwrapNullable,
  type AvroSchema,
  type ChangeEvent,
  type FieldLineage,
  type Row,
} from '@datamesh/core';

const config = Type.Object(
  {
    fields: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Row fields to mask (string fields).',
    }),
    method: Type.Union([Type.Literal('hash'), Type.Literal('redact')], {
      default: 'hash',
      description: 'hash: HMAC-SHA-256 hex, so equal values still join; redact: a fixed "***".',
    }),
    salt: Type.String({
      default: '',
      description: 'Key for the HMAC; keep it secret to stop dictionary attacks.',
    }),
  },
  { additionalProperties: false },
);

/**
 * A string field, spelled `"string"` or `{"type": "string", …}` (Java producers add `avro.java.string`), nullable
 * or not. Logical types on strings (uuid) are not: a hash would break their format.
 */
function isStringType(type: AvroSchema): boolean {
  const branch = unwrapNullable(type) as unknown;
  if (branch === 'string') return true;
  const object =
    typeof branch === 'object' && branch !== null
      ? (branch as { type?: unknown; logicalType?: unknown })
      : undefined;
  return object?.type === 'string' && object.logicalType === undefined;
}

/**
 * Masks personal data in `before` and `after`: each configured string field is replaced by a keyed
 * hash (still joinable) or redacted. The plan step refuses fields the input does not have or that
 * are not strings, when the pipeline is validated.
 */
export const maskProcessor = defineProcessor({
  name: 'mask',
  version: '0.1.0',
  description: 'Hashes or redacts chosen fields of change events.',
  config,
  plan(inputs, cfg) {
    if (inputs.length !== 1) throw new PlanError(`mask takes exactly one input, got ${inputs.length}`);
    const input = inputs[0]!;
    const row = rowSchemaOf(input.valueSchema);
    const fields = new Map(recordFields(row).map((f) => [f.name, f]));
    const problems: string[] = [];
    for (const name of cfg.fields) {
      const field = fields.get(name);
      if (!field)
        problems.push(`field "${name}" is not in ${input.name} (fields: ${[...fields.keys()].join(', ')})`);
      else if (!isStringType(field.type)) {
        problems.push(`field "${name}" of ${input.name} is ${JSON.stringify(field.type)}, not a string`);
      }
    }
    if (problems.length > 0) throw new PlanError(problems.join('; '));
    const masked = new Set(cfg.fields);
    const lineage: FieldLineage[] = [...fields.keys()].map((name) => ({
      output: `after.${name}`,
      inputs: [{ input: input.name, field: `after.${name}` }],
      ...(masked.has(name) ? { transform: cfg.method === 'hash' ? 'hmac-sha256' : 'redact' } : {}),
    }));
    // Masking reads the masked columns of both row images.
    const consumes = cfg.fields.flatMap((name) =>
      ['before', 'after'].map((image) => ({ input: input.name, field: `${image}.${name}` })),
    );
    return { keySchema: input.keySchema, valueSchema: input.valueSchema, lineage, consumes };
  },
  create(cfg) {
    const mask =
      cfg.method === 'redact'
        ? () => '***'
        : (value: string) => createHmac('sha256', cfg.salt).update(value).digest('hex');
    const maskRow = (row: Row | null): Row | null => {
      if (row === null) return null;
      const out: Row = { ...row };
      for (const field of cfg.fields) {
        const value = out[field];
        if (typeof value === 'string') out[field] = mask(value);
      }
      return out;
    };
    return {
      process(events: readonly ChangeEvent[]) {
        return events.map((event) =>
          event.value === null
            ? event
            : {
                ...event,
                value: {
                  ...event.value,
                  before: maskRow(event.value.before),
                  after: maskRow(event.value.after),
                },
              },
        );
      },
    };
  },
});
