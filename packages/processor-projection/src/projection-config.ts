import { Type, type Static } from '@datamesh/core';
import { CAST_TARGETS } from './field-cast.js';

const AVRO_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';

const field = Type.Object(
  {
    name: Type.String({ pattern: AVRO_NAME, description: 'Name of the output field (an Avro field name).' }),
    from: Type.Optional(
      Type.String({ pattern: AVRO_NAME, description: 'Input field to copy or cast; `name` when absent.' }),
    ),
    cast: Type.Optional(
      Type.Union(
        CAST_TARGETS.map((target) => Type.Literal(target)),
        { description: 'Converts the copied field to this Avro type.' },
      ),
    ),
    expr: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'CEL expression over `row` (the image projected), `op`, `ts_ms`, `source`; instead of `from`.',
      }),
    ),
    doc: Type.Optional(Type.String({ description: 'Avro doc of the output field.' })),
  },
  { additionalProperties: false },
);

export const projectionConfig = Type.Object(
  {
    fields: Type.Array(field, {
      minItems: 1,
      description:
        'The output row, in order: each entry keeps (`name`), renames (`from`), casts (`cast`) or derives (`expr`) one field.',
    }),
    others: Type.Union([Type.Literal('drop'), Type.Literal('keep')], {
      default: 'drop',
      description:
        'Input fields not listed and not renamed: drop them, or keep them, unchanged, after the listed ones.',
    }),
  },
  { additionalProperties: false },
);

export type ProjectionConfig = Static<typeof projectionConfig>;
export type FieldSpec = ProjectionConfig['fields'][number];
