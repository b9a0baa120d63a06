import { Type, type Static } from '@datamesh/core';

const Column = Type.String({ minLength: 1 });

export const joinConfig = Type.Object(
  {
    window: Type.Optional(
      Type.Object(
        {
          withinMs: Type.Integer({
            minimum: 0,
            description: 'Rows join when their times are at most this far apart.',
          }),
          graceMs: Type.Integer({
            minimum: 0,
            default: 0,
            description:
              'How long after a window closes changes may still arrive out of order; later ones are dropped and counted.',
          }),
          time: Type.Union([Type.Literal('source'), Type.Literal('event')], {
            default: 'source',
            description:
              "A row's time: source: when its last change happened in the source (source.ts_ms); event: when the connector processed it (ts_ms).",
          }),
        },
        {
          additionalProperties: false,
          description:
            'Join two streams in a time window instead of a stream with a table: rows of both inputs whose join columns are equal and whose times are at most withinMs apart. Without it, the right input is a table looked up by its key.',
        },
      ),
    ),
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
            description: 'Column of the right (second) input it must equal.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        description:
          'The join condition: left columns equal to right columns. Without a window, the right columns must be the right input’s whole key (orders.customer_id = customers.id). A null column matches nothing, as in SQL.',
      },
    ),
    fields: Type.Optional(
      Type.Array(Column, {
        minItems: 1,
        description:
          'Right columns added to each output row; all but its key columns (equal to the left join columns) when absent.',
      }),
    ),
    partitioned: Type.Boolean({
      default: false,
      description:
        'Run the join once per partition of the join key, spread over the nodes, instead of on one node at a time: the left input is repartitioned by the join key into an internal topic with the right input’s partition count, and a resolve step orders each output row’s changes. Costs two internal topics and two more hops. Table joins only. Switched on for a running pipeline, its parts start with empty state and read the inputs from their beginning.',
    }),
    prefix: Type.String({
      default: '',
      description:
        'Put before the name of every right column in the output row (e.g. "customer_"); required in effect when a right column has a left column’s name.',
    }),
  },
  { additionalProperties: false },
);

export type JoinConfig = Static<typeof joinConfig>;
