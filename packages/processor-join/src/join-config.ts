import { Type, type Static } from '@datamesh/core';

const Column = Type.String({ minLength: 1 });

export const joinConfig = Type.Object(
  {
    kind: Type.Union([Type.Literal('inner'), Type.Literal('left')], {
      default: 'inner',
      description:
        'inner: a left row is in the output only while a right row matches it; left: every left row is, with null right fields when none matches.',
    }),
    on: Type.Array(
      Type.Object(
        {
          left: Type.String({ minLength: 1, description: 'Column of the left (first) input.' }),
          right: Type.String({
            minLength: 1,
            description: 'Key column of the right (second) input it must equal.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        description:
          'The join condition: left columns equal to the right input’s key columns (all of them, e.g. orders.customer_id = customers.id). A null left column matches nothing, as in SQL.',
      },
    ),
    fields: Type.Optional(
      Type.Array(Column, {
        minItems: 1,
        description:
          'Right columns added to each output row; all but its key columns (equal to the left join columns) when absent.',
      }),
    ),
    prefix: Type.String({
      default: '',
      description:
        'Put before the name of every right column in the output row (e.g. "customer_"); required in effect when a right column has a left column’s name.',
    }),
  },
  { additionalProperties: false },
);

export type JoinConfig = Static<typeof joinConfig>;
