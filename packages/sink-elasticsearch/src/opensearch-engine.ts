import { Client, errors } from '@opensearch-project/opensearch';
import type { Connection } from './connection-options.js';
import type { Properties } from './index-mapping.js';
import {
  BULK_FILTER_PATH,
  bulkResultOf,
  errorOfBody,
  mappingsOfBody,
  SearchEngineError,
  type BulkResult,
  type IndexDefinition,
  type SearchEngine,
} from './search-engine.js';

/**
 * {@link SearchEngine} over `@opensearch-project/opensearch`. The client's own retries are off (the sink
 * retries, in order per document). An API key is sent as an `Authorization: ApiKey` header.
 */
export class OpenSearchEngine implements SearchEngine {
  readonly engine = 'opensearch' as const;
  private readonly client: Client;

  constructor(connection: Connection) {
    const { auth, tls } = connection;
    this.client = new Client({
      nodes: [...connection.nodes],
      maxRetries: 0,
      requestTimeout: connection.requestTimeoutMs,
      ...(auth && 'apiKey' in auth ? { headers: { authorization: `ApiKey ${auth.apiKey}` } } : {}),
      ...(auth && !('apiKey' in auth) ? { auth: { ...auth } } : {}),
      ...(tls
        ? { ssl: { rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca ? { ca: tls.ca } : {}) } }
        : {}),
    });
  }

  async info() {
    const { body } = await this.call('GET /', () => this.client.info());
    // The client checks nothing: Elasticsearch answers it too (and takes its requests).
    const distribution = (body.version as { distribution?: unknown } | undefined)?.distribution;
    if (distribution !== 'opensearch') {
      throw new SearchEngineError(
        `GET /: the server is not OpenSearch (its version.distribution is ${JSON.stringify(distribution) ?? 'missing'}); ` +
          'if it is Elasticsearch, set engine: elasticsearch',
        200,
        'product_not_supported',
      );
    }
    return { distribution: 'opensearch' as const, version: body.version.number };
  }

  async bulk(body: string): Promise<BulkResult> {
    const response = await this.call('bulk', () =>
      // The client sends a string body as it is: the sink serialises the NDJSON itself.
      this.client.bulk({ body: body as unknown as never[], refresh: false, filter_path: BULK_FILTER_PATH }),
    );
    return bulkResultOf(response.body);
  }

  async indexExists(index: string): Promise<boolean> {
    const { body } = await this.call(`HEAD ${index}`, () => this.client.indices.exists({ index }));
    return body === true;
  }

  async createIndex(index: string, definition: IndexDefinition): Promise<void> {
    await this.call(`create index ${index}`, () =>
      this.client.indices.create({
        index,
        body: { settings: definition.settings, mappings: definition.mappings } as never,
      }),
    );
  }

  async getMapping(index: string): Promise<ReadonlyMap<string, Properties>> {
    const { body } = await this.call(`GET ${index}/_mapping`, () =>
      this.client.indices.getMapping({ index }),
    );
    return mappingsOfBody(body);
  }

  async putMapping(index: string, properties: Properties): Promise<void> {
    await this.call(`PUT ${index}/_mapping`, () =>
      this.client.indices.putMapping({ index, body: { properties } as never }),
    );
  }

  async deleteByQuery(index: string, query: Readonly<Record<string, unknown>>) {
    // delete_by_query deletes what a search finds: a refresh first makes every acknowledged write visible.
    await this.call(`refresh ${index}`, () => this.client.indices.refresh({ index }));
    const { body } = await this.call(`delete_by_query ${index}`, () =>
      this.client.deleteByQuery({ index, conflicts: 'proceed', body: { query } as never }),
    );
    return { deleted: (body as { deleted?: number }).deleted ?? 0 };
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async call<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw engineError(what, error);
    }
  }
}

/** The client's errors as SearchEngineErrors: a status and type for responses, none for network failures. */
function engineError(what: string, error: unknown): unknown {
  if (error instanceof errors.ResponseError) {
    const status = error.meta.statusCode ?? 0;
    const { type, reason } = errorOfBody(error.meta.body);
    return new SearchEngineError(`${what}: ${status} ${type ?? ''} ${reason ?? ''}`.trim(), status, type, {
      cause: error,
    });
  }
  if (
    error instanceof errors.ConnectionError ||
    error instanceof errors.TimeoutError ||
    error instanceof errors.NoLivingConnectionsError
  ) {
    return new SearchEngineError(`${what}: ${error.message}`, undefined, error.name, { cause: error });
  }
  return error;
}
