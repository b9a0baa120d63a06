import { Type, type Static } from '@datamesh/core';

const identifier = (description: string, fallback: string) =>
  Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: fallback, description });

export const postgresConfig = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Server host name or address.' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 5432, description: 'Server port.' }),
    database: Type.String({ minLength: 1, description: 'Database whose tables are captured.' }),
    user: Type.String({
      minLength: 1,
      description: 'Role to connect as; it needs REPLICATION and SELECT on the captured tables.',
    }),
    password: Type.Optional(
      Type.String({ description: 'Password of the role; pass it as ${ENV_VAR}, never inline.' }),
    ),
    ssl: Type.Optional(
      Type.Object(
        {
          rejectUnauthorized: Type.Boolean({ default: true, description: 'Verify the server certificate.' }),
          ca: Type.Optional(Type.String({ description: 'PEM of the certificate authority to trust.' })),
        },
        { additionalProperties: false, description: 'Connect over TLS.' },
      ),
    ),
    tables: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Tables to capture: schema.table, or schema.* for every table of a schema.',
    }),
    slot: identifier('Logical replication slot of this source (one per source).', 'datamesh'),
    publication: identifier('Publication listing the captured tables.', 'datamesh'),
    createSlot: Type.Boolean({ default: true, description: 'Create the slot when it does not exist.' }),
    createPublication: Type.Boolean({
      default: true,
      description: 'Create the publication when missing, and add captured tables it lacks.',
    }),
    controlSchema: identifier('Schema of the watermark and signal tables snapshots use.', 'datamesh'),
    snapshot: Type.Object(
      {
        mode: Type.Union([Type.Literal('initial'), Type.Literal('never')], {
          default: 'initial',
          description:
            'initial: read existing rows on first start, interleaved with the log; never: log only.',
        }),
        chunkSize: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 4096,
          description: 'Rows per snapshot chunk (held in memory while its watermark window is open).',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Snapshots of existing rows.' },
    ),
    toast: Type.Union([Type.Literal('fetch'), Type.Literal('placeholder')], {
      default: 'fetch',
      description:
        'Unchanged TOASTed values that an update leaves out: fetch reads the current value by key; placeholder ' +
        'puts toastPlaceholder (string and bytes types; others are fetched). REPLICA IDENTITY FULL needs neither.',
    }),
    toastPlaceholder: Type.String({
      default: '__datamesh_unavailable_value',
      description: 'The placeholder of toast: placeholder.',
    }),
    tombstones: Type.Boolean({
      default: true,
      description: 'Follow each delete with a tombstone (null value) for compacted topics.',
    }),
    decimalHandling: Type.Union([Type.Literal('precise'), Type.Literal('string'), Type.Literal('double')], {
      default: 'precise',
      description: 'numeric columns as Avro decimal (precise), string, or double.',
    }),
    unknownTypes: Type.Union([Type.Literal('error'), Type.Literal('string')], {
      default: 'error',
      description: 'Columns of a type without a mapping: refuse the table (error) or carry their text form.',
    }),
    heartbeatIntervalMs: Type.Integer({
      minimum: 100,
      default: 10_000,
      description:
        "How often the server is asked how far it has read, so an idle table's slot still advances.",
    }),
    maxBatchSize: Type.Integer({ minimum: 1, default: 4096, description: 'Most changes per batch.' }),
    maxBufferedBytes: Type.Integer({
      minimum: 65_536,
      default: 33_554_432,
      description: 'Received changes held before reading from the server pauses (backpressure).',
    }),
  },
  { additionalProperties: false },
);

export type PostgresConfig = Static<typeof postgresConfig>;
