import { Type, type Static } from '@sinclair/typebox';

const KafkaSettingsSchema = Type.Object(
  {
    brokers: Type.Array(Type.String({ pattern: '^[^:\\s]+:[0-9]{1,5}$' }), {
      minItems: 1,
      description: 'Bootstrap brokers, host:port.',
    }),
    clientId: Type.String({ default: 'datamesh', minLength: 1 }),
    replicationFactor: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "Replicas of topics the node creates; the broker's default when absent.",
      }),
    ),
    compression: Type.Union(
      [Type.Literal('none'), Type.Literal('gzip'), Type.Literal('lz4'), Type.Literal('zstd')],
      { default: 'none' },
    ),
    lingerMs: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'How long a send waits for others to share its request.',
    }),
    sasl: Type.Optional(
      Type.Object(
        {
          mechanism: Type.Union([
            Type.Literal('scram-sha-256'),
            Type.Literal('scram-sha-512'),
            Type.Literal('plain'),
          ]),
          username: Type.String({ minLength: 1 }),
          password: Type.String({
            minLength: 1,
            description: 'Put it in the environment: `${KAFKA_PASSWORD}`.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          caFile: Type.Optional(
            Type.String({ description: "PEM file of the CA that signed the brokers' certificates." }),
          ),
          certFile: Type.Optional(Type.String({ description: 'PEM client certificate (mutual TLS).' })),
          keyFile: Type.Optional(Type.String({ description: 'PEM client key (mutual TLS).' })),
          rejectUnauthorized: Type.Boolean({ default: true }),
        },
        { additionalProperties: false },
      ),
    ),
    connectionTimeoutMs: Type.Integer({ minimum: 1, default: 10_000 }),
    retries: Type.Integer({
      minimum: 0,
      default: 5,
      description:
        'Retries of a failed request, with exponential backoff, before a task fails (and restarts).',
    }),
    sessionTimeoutMs: Type.Integer({ minimum: 1000, default: 30_000 }),
  },
  { additionalProperties: false },
);

const SchemaRegistrySettingsSchema = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        pattern: '^https?://[^\\s]+$',
        description:
          "A Confluent-compatible schema registry to use instead of the node's own, e.g. http://registry:8081.",
      }),
    ),
    serve: Type.Optional(
      Type.Boolean({
        description:
          "Serve the node's own registry (Confluent REST API) at <http address>/schema-registry. Default: true without `url`.",
      }),
    ),
    basicAuth: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1 }),
          password: Type.String({
            minLength: 1,
            description: 'Put it in the environment: `${SCHEMA_REGISTRY_PASSWORD}`.',
          }),
        },
        { additionalProperties: false, description: 'Credentials for the registry at `url`.' },
      ),
    ),
    timeoutMs: Type.Integer({
      minimum: 1,
      default: 10_000,
      description: 'How long one request to the registry at `url` may take.',
    }),
  },
  { default: {}, additionalProperties: false },
);

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
        kind: Type.Union([Type.Literal('embedded'), Type.Literal('kafka')], {
          default: 'embedded',
          description:
            'embedded: a durable log in dataDir, for one machine; kafka: a Kafka cluster (settings under `kafka`).',
        }),
        partitions: Type.Integer({
          minimum: 1,
          default: 4,
          description: 'Partitions of topics the node creates.',
        }),
        fsync: Type.Union([Type.Literal('always'), Type.Literal('interval'), Type.Literal('never')], {
          default: 'interval',
          description:
            'Embedded only. always: fsync before acknowledging; interval: fsync every second (a process crash loses nothing, a power loss up to a second).',
        }),
        kafka: Type.Optional(KafkaSettingsSchema),
      },
      { default: {}, additionalProperties: false },
    ),
    schemaRegistry: SchemaRegistrySettingsSchema,
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
