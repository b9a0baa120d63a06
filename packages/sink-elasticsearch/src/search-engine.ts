import type { Engine, Properties } from './index-mapping.js';

/** What one bulk item answered: its HTTP status, and the error when it failed. */
export interface BulkItemResult {
  readonly status: number;
  /** `created`, `updated`, `deleted`, `not_found`, … */
  readonly result?: string;
  readonly error?: { readonly type?: string; readonly reason?: string };
}

/** A bulk response: one item per action, in the order of the request. */
export interface BulkResult {
  readonly errors: boolean;
  readonly items: readonly BulkItemResult[];
}

export interface IndexDefinition {
  readonly settings: Readonly<Record<string, unknown>>;
  readonly mappings: { readonly dynamic: 'strict' | boolean; readonly properties: Properties };
}

/**
 * The calls the sink makes, and nothing else: both engines implement it over their own client, so the bulk,
 * mapping and versioning logic is shared. Failures are thrown as {@link SearchEngineError}s.
 */
export interface SearchEngine {
  readonly engine: Engine;
  /** The node's distribution and version (`GET /`). */
  info(): Promise<{ readonly distribution: Engine; readonly version: string }>;
  /** Sends a pre-serialised NDJSON body (every line ending in `\n`) with `refresh=false`. */
  bulk(body: string): Promise<BulkResult>;
  indexExists(index: string): Promise<boolean>;
  /** Creates an index; an index that already exists is an error of type `resource_already_exists_exception`. */
  createIndex(index: string, definition: IndexDefinition): Promise<void>;
  /** The field mappings of `index` (an alias may resolve to several concrete indexes), by concrete index. */
  getMapping(index: string): Promise<ReadonlyMap<string, Properties>>;
  putMapping(index: string, properties: Properties): Promise<void>;
  /**
   * Refreshes `index`, then deletes every document matching `query` (version conflicts proceed); answers how
   * many it deleted. The refresh matters: delete_by_query finds what a search finds, so without it the writes
   * of the last refresh interval (all of them with `refresh_interval: -1`) would survive.
   */
  deleteByQuery(
    index: string,
    query: Readonly<Record<string, unknown>>,
  ): Promise<{ readonly deleted: number }>;
  close(): Promise<void>;
}

/** `filter_path` of bulk requests: only what the sink reads back, so large responses stay small. */
export const BULK_FILTER_PATH =
  'errors,items.*.status,items.*.result,items.*.error.type,items.*.error.reason';

/** A failed engine call, with the HTTP status (none when no response came) and the engine's error type. */
export class SearchEngineError extends Error {
  /** Undefined when there was no response: connection refused or reset, timeout. */
  readonly status: number | undefined;
  readonly type: string | undefined;

  constructor(message: string, status: number | undefined, type: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SearchEngineError';
    this.status = status;
    this.type = type;
  }
}

/** True for failures that may pass by themselves: no response, 429, and 5xx other than 501. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof SearchEngineError)) return false;
  const { status } = error;
  return status === undefined || status === 429 || (status >= 500 && status !== 501);
}

/** The `error` of an engine's JSON error body: `{ "error": { "type", "reason" } }` or a plain string. */
export function errorOfBody(body: unknown): { type?: string; reason?: string } {
  const error = (body as { error?: unknown } | null | undefined)?.error;
  if (typeof error === 'string') return { reason: error };
  if (typeof error !== 'object' || error === null) return {};
  const { type, reason } = error as { type?: unknown; reason?: unknown };
  return {
    ...(typeof type === 'string' ? { type } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

/** The first item result of each bulk response item (`{ "index": {…} }` → `{…}`). */
export function bulkResultOf(body: unknown): BulkResult {
  const { errors, items } = (body ?? {}) as { errors?: unknown; items?: unknown };
  if (!Array.isArray(items)) {
    throw new SearchEngineError('the bulk response has no items', undefined, 'invalid_bulk_response');
  }
  return {
    errors: errors === true,
    items: items.map((item: Record<string, BulkItemResult>) => Object.values(item)[0] ?? { status: 0 }),
  };
}

/** Concrete index → its field mappings, from a `GET <index>/_mapping` body. */
export function mappingsOfBody(body: unknown): ReadonlyMap<string, Properties> {
  const result = new Map<string, Properties>();
  for (const [index, entry] of Object.entries((body ?? {}) as Record<string, unknown>)) {
    const properties = (entry as { mappings?: { properties?: Properties } } | undefined)?.mappings
      ?.properties;
    result.set(index, properties ?? {});
  }
  return result;
}
