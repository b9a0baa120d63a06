/**
 * Reading and removing test indexes on the real engines, with plain HTTP: the same calls on OpenSearch and on
 * Elasticsearch (plain `application/json`, which both accept), so a read-back never goes through the adapter
 * under test.
 */

let counter = 0;

/** A unique lowercase index name for one test; remember it to delete it after. */
export function uniqueIndex(name: string): string {
  return `dm-test-${name}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

export interface StoredDocument {
  readonly version: number;
  readonly source: Record<string, unknown>;
}

/** Every document of an index, by id, with its version (after a refresh, so all writes are searchable). */
export async function documentsOf(url: string, index: string): Promise<Record<string, StoredDocument>> {
  await request(url, 'POST', `/${index}/_refresh`);
  const body = (await request(url, 'POST', `/${index}/_search`, {
    size: 10_000,
    version: true,
    query: { match_all: {} },
  })) as { hits: { hits: { _id: string; _version: number; _source: Record<string, unknown> }[] } };
  return Object.fromEntries(
    body.hits.hits.map((hit) => [hit._id, { version: hit._version, source: hit._source }] as const),
  );
}

export async function countOf(url: string, index: string): Promise<number> {
  await request(url, 'POST', `/${index}/_refresh`);
  return ((await request(url, 'GET', `/${index}/_count`)) as { count: number }).count;
}

export async function deleteIndexes(url: string, indexes: readonly string[]): Promise<void> {
  for (const index of indexes) {
    const response = await fetch(`${url}/${index}`, { method: 'DELETE' });
    if (!response.ok && response.status !== 404) throw new Error(`DELETE ${index}: ${response.status}`);
  }
}

export interface Response {
  readonly status: number;
  /** The body as sent (JSON.parse would round big numbers). */
  readonly text: string;
  /** The parsed JSON body; undefined when there is none. */
  readonly body: unknown;
}

/**
 * One request, whatever its status. A string body is sent as it is, as NDJSON (a bulk body); anything else
 * as JSON.
 */
export async function send(url: string, method: string, path: string, body?: unknown): Promise<Response> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      accept: 'application/json',
      'content-type': typeof body === 'string' ? 'application/x-ndjson' : 'application/json',
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** One request that must succeed: answers the parsed body, throws with the status and body otherwise. */
export async function request(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await send(url, method, path, body);
  if (response.status < 200 || response.status >= 300) {
    throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
  }
  return response.body;
}
