import { Client, errors, type estypes } from '@elastic/elasticsearch';
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
 * {@link SearchEngine} over `@elastic/elasticsearch`. The client's own retries are off (the sink retries, in
 * order per document). Requests use plain JSON media types, which Elasticsearch 8 and 9 both accept (the
 * client's `compatible-with=9` is refused by 8).
 */
export class ElasticEngine implements SearchEngine {
  readonly engine = 'elasticsearch' as const;
  private readonly client: Client;

  constructor(connection: Connection) {
    const { auth, tls } = connection;
    this.client = new Client({
      nodes: [...connection.nodes],
      maxRetries: 0,
      requestTimeout: connection.requestTimeoutMs,
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      ...(auth ? { auth: 'apiKey' in auth ? { apiKey: auth.apiKey } : { ...auth } } : {}),
      ...(tls
        ? { tls: { rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca ? { ca: tls.ca } : {}) } }
        : {}),
    });
  }

  async info() {
    const body = await this.call('GET /', () => this.client.info());
    return { distribution: 'elasticsearch' as const, version: body.version.number };
  }

  async bulk(body: string): Promise<BulkResult> {
    const response = await this.call('bulk', () =>
      this.client.bulk(
        // The client sends a string body as it is: the sink serialises the NDJSON itself.
        { operations: body as unknown as unknown[], refresh: false, filter_path: BULK_FILTER_PATH },
        { headers: { 'content-type': 'application/x-ndjson' } },
      ),
    );
    return bulkResultOf(response);
  }

  indexExists(index: string): Promise<boolean> {
    return this.call(`HEAD ${index}`, () => this.client.indices.exists({ index }));
  }

  async createIndex(index: string, definition: IndexDefinition): Promise<void> {
    await this.call(`create index ${index}`, () =>
      this.client.indices.create({
        index,
        settings: definition.settings as estypes.IndicesIndexSettings,
        mappings: definition.mappings as estypes.MappingTypeMapping,
      }),
    );
  }

  async getMapping(index: string): Promise<ReadonlyMap<string, Properties>> {
    return mappingsOfBody(
      await this.call(`GET ${index}/_mapping`, () => this.client.indices.getMapping({ index })),
    );
  }

  async putMapping(index: string, properties: Properties): Promise<void> {
    await this.call(`PUT ${index}/_mapping`, () =>
      this.client.indices.putMapping({
        index,
        properties: properties as Record<string, estypes.MappingProperty>,
      }),
    );
  }

  async deleteByQuery(index: string, query: Readonly<Record<string, unknown>>) {
    // delete_by_query deletes what a search finds: a refresh first makes every acknowledged write visible.
    await this.call(`refresh ${index}`, () => this.client.indices.refresh({ index }));
    const body = await this.call(`delete_by_query ${index}`, () =>
      this.client.deleteByQuery({ index, query: query as never, conflicts: 'proceed' }),
    );
    return { deleted: body.deleted ?? 0 };
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
    const status = error.meta.statusCode;
    const { type, reason } = errorOfBody(error.meta.body);
    return new SearchEngineError(`${what}: ${status} ${type ?? ''} ${reason ?? ''}`.trim(), status, type, {
      cause: error,
    });
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return new SearchEngineError(
      `${what}: the server is not Elasticsearch (its responses lack the x-elastic-product header); ` +
        'if it is OpenSearch, set engine: opensearch',
      200,
      'product_not_supported',
      { cause: error },
    );
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
