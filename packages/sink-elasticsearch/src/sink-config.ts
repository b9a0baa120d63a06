import { ConfigError, Type, type ConfigIssue, type Static } from '@datamesh/core';

const stringMapping = (options: { description?: string; default?: string } = {}) =>
  Type.Union([Type.Literal('text'), Type.Literal('keyword'), Type.Literal('text+keyword')], options);

/** Lowercase, none of `\ / * ? " < > | , # :` or spaces, not starting with `_ - +`: an index name or template. */
export const INDEX_TEMPLATE_PATTERN = '^[^A-Z\\\\/*?"<>| ,#:_+-][^A-Z\\\\/*?"<>| ,#:]*$';

/** An Elasticsearch time value: `90s`, `30m`, `1h`, `7d`. */
const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$';

export const elasticsearchSinkConfig = Type.Object(
  {
    engine: Type.Union([Type.Literal('auto'), Type.Literal('elasticsearch'), Type.Literal('opensearch')], {
      default: 'auto',
      description:
        'auto: ask the node (GET /) whether it is Elasticsearch or OpenSearch; or name it, skipping the question.',
    }),
    url: Type.Optional(
      Type.String({
        pattern: '^https?://',
        description: 'The node to connect to, e.g. https://search.internal:9200 (give url or urls).',
      }),
    ),
    urls: Type.Optional(
      Type.Array(Type.String({ pattern: '^https?://' }), {
        minItems: 1,
        description: 'Several nodes of one cluster; requests are spread over them (give url or urls).',
      }),
    ),
    auth: Type.Optional(
      Type.Object(
        {
          username: Type.Optional(Type.String({ minLength: 1, description: 'Basic authentication user.' })),
          password: Type.Optional(
            Type.String({
              description: 'Basic authentication password; pass it as ${ENV_VAR}, never inline.',
            }),
          ),
          apiKey: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'An API key (base64 id:key), sent as Authorization: ApiKey; instead of username.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          caFile: Type.Optional(
            Type.String({ minLength: 1, description: 'PEM file of the certificate authority to trust.' }),
          ),
          rejectUnauthorized: Type.Boolean({ default: true, description: 'Verify the server certificate.' }),
        },
        { additionalProperties: false },
      ),
    ),
    requestTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      description: 'How long one request may take before it counts as failed (and is retried).',
    }),
    index: Type.String({
      pattern: INDEX_TEMPLATE_PATTERN,
      default: '${topic}',
      description:
        'Index to write to: a name, or a template with ${topic}, ${table}, ${schema} (from the event source block; write $${ in pipeline files); substituted values are lowercased, invalid characters become _.',
    }),
    version: Type.Object(
      {
        field: Type.String({
          pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$',
          default: 'source.commitLsn',
          description:
            'Dotted path into the envelope to the external version of each write: a non-negative integer that never decreases from one change of a row to the next, in commit order (the Postgres source’s source.commitLsn). Writes apply at an equal or higher version (external_gte), so the changes of one transaction apply in order; none: no versioning, the last write wins.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    truncate: Type.Union([Type.Literal('ignore'), Type.Literal('delete-all')], {
      default: 'ignore',
      description:
        'On a truncate event: ignore it, or delete every document of the index (delete_by_query) once what came before is written.',
    }),
    deleteRetention: Type.String({
      pattern: DURATION_PATTERN,
      default: '1h',
      description:
        'index.gc_deletes of indexes the sink creates: how long a delete is remembered, so an older write replayed within it cannot bring the document back.',
    }),
    settings: Type.Object(
      {
        shards: Type.Integer({ minimum: 1, default: 1, description: 'number_of_shards of created indexes.' }),
        replicas: Type.Integer({
          minimum: 0,
          default: 1,
          description: 'number_of_replicas of created indexes (0 on a single node keeps it green).',
        }),
        refreshInterval: Type.Optional(
          Type.String({
            pattern: '^(-1|[0-9]+(ms|s|m|h|d))$',
            description: 'refresh_interval of created indexes (e.g. 30s; -1 turns refresh off).',
          }),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    mapping: Type.Object(
      {
        strings: stringMapping({
          default: 'text+keyword',
          description:
            'How string fields are mapped: text, keyword, or text+keyword (text with a .keyword sub-field); key fields are always keyword.',
        }),
        fields: Type.Optional(
          Type.Record(Type.String(), stringMapping(), {
            description: 'Per field (dotted path) string mapping, overriding strings.',
          }),
        ),
        nested: Type.Optional(
          Type.Array(Type.String({ minLength: 1 }), {
            description: 'Array-of-record fields (dotted paths) mapped as nested instead of object.',
          }),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    bulk: Type.Object(
      {
        maxActions: Type.Integer({
          minimum: 1,
          default: 1000,
          description: 'Most actions per bulk request.',
        }),
        maxBytes: Type.Integer({
          minimum: 1024,
          default: 5 * 1024 * 1024,
          description: 'Most bytes per bulk request body (a single larger document is sent alone).',
        }),
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 2,
          description:
            'Bulk requests in flight at once (lanes); a document always goes through the same lane, in order.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    retry: Type.Object(
      {
        initialDelayMs: Type.Integer({ minimum: 1, default: 100, description: 'First retry delay.' }),
        maxDelayMs: Type.Integer({
          minimum: 1,
          default: 30_000,
          description: 'Longest retry delay; failed requests are retried until the task stops.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type ElasticsearchSinkConfig = Static<typeof elasticsearchSinkConfig>;

/**
 * What the schema cannot say: exactly one of url and urls, auth as user and password or an API key, and only
 * known placeholders in the index template. Thrown as one ConfigError naming every field.
 */
export function checkConfig(config: ElasticsearchSinkConfig): void {
  const issues: ConfigIssue[] = [];
  if ((config.url === undefined) === (config.urls === undefined)) {
    issues.push({ path: '/url', message: 'give either url or urls' });
  }
  const auth = config.auth;
  if (auth) {
    if (auth.apiKey !== undefined && (auth.username !== undefined || auth.password !== undefined)) {
      issues.push({ path: '/auth', message: 'give username and password, or apiKey, not both' });
    } else if (auth.apiKey === undefined && auth.username === undefined) {
      issues.push({ path: '/auth', message: 'give username and password, or apiKey' });
    } else if (auth.username !== undefined && auth.password === undefined) {
      issues.push({ path: '/auth/password', message: 'username needs a password' });
    }
  }
  for (const [, name] of config.index.matchAll(/\$\{([^}]*)\}/g)) {
    if (!['topic', 'table', 'schema'].includes(name ?? '')) {
      issues.push({
        path: '/index',
        message: `unknown placeholder \${${name}}: use \${topic}, \${table}, \${schema}`,
      });
    }
  }
  if (config.retry.maxDelayMs < config.retry.initialDelayMs) {
    issues.push({ path: '/retry/maxDelayMs', message: 'must be at least initialDelayMs' });
  }
  if (issues.length > 0) throw new ConfigError('sink "elasticsearch"', issues);
}
