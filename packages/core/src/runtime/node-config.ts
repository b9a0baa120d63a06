import { Type, type Static } from '@sinclair/typebox';

/** A node's configuration file (YAML or JSON). Secrets come from environment variables, never from here. */
export const NodeConfigSchema = Type.Object(
  {
    apiVersion: Type.Literal('datamesh/v1'),
    kind: Type.Literal('Node'),
    dataDir: Type.String({
      default: '.datamesh',
      description: 'Where the embedded log, schemas and state live.',
    }),
    http: Type.Object(
      {
        host: Type.String({
          default: '127.0.0.1',
          description: 'Address of the /metrics and /health server.',
        }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 9464,
          description: '0 picks a free port.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    transport: Type.Object(
      {
        kind: Type.Literal('embedded', { default: 'embedded' }),
        partitions: Type.Integer({
          minimum: 1,
          default: 4,
          description: 'Partitions of topics the node creates.',
        }),
        fsync: Type.Union([Type.Literal('always'), Type.Literal('interval'), Type.Literal('never')], {
          default: 'interval',
          description:
            'always: fsync before acknowledging; interval: fsync every second (a process crash loses nothing, a power loss up to a second).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    tasks: Type.Object(
      {
        batchSize: Type.Integer({ minimum: 1, default: 500 }),
        flushEvents: Type.Integer({ minimum: 1, default: 5000 }),
        flushIntervalMs: Type.Integer({ minimum: 1, default: 1000 }),
        stopTimeoutMs: Type.Integer({
          minimum: 1,
          default: 30_000,
          description: 'How long a stop waits for tasks to drain before giving up (and exiting non-zero).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          [
            Type.Literal('fatal'),
            Type.Literal('error'),
            Type.Literal('warn'),
            Type.Literal('info'),
            Type.Literal('debug'),
            Type.Literal('trace'),
            Type.Literal('silent'),
          ],
          { default: 'info' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    pipelines: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Pipeline files to run, relative to this file.',
    }),
  },
  { additionalProperties: false },
);

export type NodeConfig = Static<typeof NodeConfigSchema>;
