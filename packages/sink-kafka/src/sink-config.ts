import { Type, type Static } from '@datamesh/core';

/** 64 MiB: encoded records held (or in flight) before the sink waits for the cluster. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

const ClusterSchema = Type.Object(
  {
    brokers: Type.Array(Type.String({ pattern: '^[^:\\s]+:[0-9]{1,5}$' }), {
      minItems: 1,
      description: 'Another Kafka cluster to write to: its bootstrap brokers, host:port.',
    }),
    clientId: Type.String({
      minLength: 1,
      default: 'datamesh-sink',
      description: "The client id the cluster's logs and quotas see.",
    }),
    sasl: Type.Optional(
      Type.Object(
        {
          mechanism: Type.Union(
            [Type.Literal('plain'), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512')],
            { description: 'SASL mechanism of the listener.' },
          ),
          username: Type.String({ minLength: 1, description: 'SASL user; it needs the ACLs listed below.' }),
          password: Type.String({
            minLength: 1,
            description: 'Put it in the environment: `${KAFKA_SINK_PASSWORD}`. Never logged.',
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
          rejectUnauthorized: Type.Boolean({
            default: true,
            description: 'Verify the brokers’ certificates; turn off for local tests only.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    replicationFactor: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "Replicas of the topic when the sink creates it; the broker's default when absent.",
      }),
    ),
  },
  { additionalProperties: false },
);

export const kafkaSinkConfig = Type.Object(
  {
    topic: Type.String({
      minLength: 1,
      maxLength: 249,
      pattern: '^[a-zA-Z0-9._-]+$',
      description: 'The output topic (created when missing).',
    }),
    description: Type.Optional(
      Type.String({ description: 'What the topic holds, for the catalog (`outputs`).' }),
    ),
    partitions: Type.Integer({
      minimum: 1,
      default: 3,
      description: 'Partitions of the topic when the sink creates it; an existing topic keeps its count.',
    }),
    format: Type.Union([Type.Literal('avro'), Type.Literal('json')], {
      default: 'avro',
      description:
        'avro: Confluent wire format, schemas registered under `<topic>-key` / `<topic>-value`; json: UTF-8 JSON key and value, no registry.',
    }),
    envelope: Type.Union([Type.Literal('envelope'), Type.Literal('row')], {
      default: 'envelope',
      description:
        'envelope: the whole change event; row: the row state only (Debezium’s "unwrap"): `after`, deletes as tombstones, truncates dropped.',
    }),
    key: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        uniqueItems: true,
        description: "Row fields to key the records by, in order; the event's own key when absent.",
      }),
    ),
    exactlyOnce: Type.Boolean({
      default: true,
      description:
        "Write records and input offsets in one transaction, when writing to the node's own transport (no `cluster`): Kafka, or the embedded log; at-least-once otherwise.",
    }),
    cluster: Type.Optional(ClusterSchema),
    maxBufferedBytes: Type.Integer({
      minimum: 1024,
      default: DEFAULT_MAX_BUFFERED_BYTES,
      description:
        'Encoded records held before they are sent ahead of the flush (into the open transaction when exactly once).',
    }),
  },
  { additionalProperties: false },
);

export type KafkaSinkConfig = Static<typeof kafkaSinkConfig>;
export type ClusterConfig = NonNullable<KafkaSinkConfig['cluster']>;
