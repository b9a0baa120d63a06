import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
  readonly method: string;
  /** Path and query string, as sent. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface StubResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export interface ElasticsearchStub {
  readonly url: string;
  readonly requests: StubRequest[];
  /** Answers a bulk action line instead of the default (201 for index, 200 for delete). */
  bulkItem:
    ((action: string, meta: Record<string, unknown>) => Record<string, unknown> | undefined) | undefined;
  /** Answers a request before the stub's own routes; undefined lets them answer. */
  handler: ((request: StubRequest) => StubResponse | undefined) | undefined;
  close(): Promise<void>;
}

/**
 * A tiny HTTP server that answers the calls the sink makes as Elasticsearch 9 does, with the
 * `x-elastic-product: Elasticsearch` header the client requires: the unit test of the adapter's requests
 * records every request on it to assert on (the real Elasticsearch node of tools/services runs the
 * integration tests). It keeps index mappings, not documents.
 */
/** `product`: the x-elastic-product header, or null for a server that sends none. */
export async function startElasticsearchStub(
  product: string | null = 'Elasticsearch',
): Promise<ElasticsearchStub> {
  const mappings = new Map<string, Record<string, unknown>>();
  const stub: ElasticsearchStub = {
    url: '',
    requests: [],
    bulkItem: undefined,
    handler: undefined,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  function route(request: StubRequest): StubResponse {
    const { pathname } = new URL(request.url, 'http://stub');
    const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const [index, action] = parts;
    if (request.method === 'GET' && parts.length === 0) {
      return {
        status: 200,
        body: {
          name: 'stub',
          version: { number: '9.1.0', build_flavor: 'default' },
          tagline: 'You Know, for Search',
        },
      };
    }
    if (index === '_bulk') return { status: 200, body: bulkResponse(request.body) };
    if (index === undefined) return { status: 404, body: {} };
    if (request.method === 'HEAD' && action === undefined) return { status: mappings.has(index) ? 200 : 404 };
    if (request.method === 'PUT' && action === undefined) {
      if (mappings.has(index)) {
        return error(400, 'resource_already_exists_exception', `index [${index}] already exists`);
      }
      const body = JSON.parse(request.body) as { mappings: Record<string, unknown> };
      mappings.set(index, body.mappings);
      return { status: 200, body: { acknowledged: true, shards_acknowledged: true, index } };
    }
    if (action === '_mapping') {
      const current = mappings.get(index);
      if (!current) return error(404, 'index_not_found_exception', `no such index [${index}]`);
      if (request.method === 'GET') return { status: 200, body: { [index]: { mappings: current } } };
      const { properties } = JSON.parse(request.body) as { properties: Record<string, unknown> };
      current['properties'] = { ...(current['properties'] as object), ...properties };
      return { status: 200, body: { acknowledged: true } };
    }
    if (action === '_refresh')
      return { status: 200, body: { _shards: { total: 2, successful: 1, failed: 0 } } };
    if (action === '_delete_by_query') return { status: 200, body: { took: 1, deleted: 3, failures: [] } };
    return error(
      400,
      'illegal_argument_exception',
      `the stub does not answer ${request.method} ${request.url}`,
    );
  }

  function bulkResponse(body: string): unknown {
    const lines = body.split('\n');
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < lines.length - 1; i++) {
      const [action, meta] = Object.entries(
        JSON.parse(lines[i]!) as Record<string, Record<string, unknown>>,
      )[0]!;
      if (action === 'index') i++;
      const item = stub.bulkItem?.(action, meta) ?? {
        _index: meta['_index'],
        _id: meta['_id'],
        status: action === 'index' ? 201 : 200,
        result: action === 'index' ? 'created' : 'deleted',
      };
      items.push({ [action]: item });
    }
    return {
      errors: items.some((item) => (Object.values(item)[0] as { status: number }).status >= 300),
      items,
    };
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: StubRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      stub.requests.push(request);
      const response = stub.handler?.(request) ?? route(request);
      const text = response.body === undefined ? '' : JSON.stringify(response.body);
      res.writeHead(response.status, {
        ...(product === null ? {} : { 'x-elastic-product': product }),
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...response.headers,
      });
      res.end(request.method === 'HEAD' ? undefined : text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, { url: `http://127.0.0.1:${port}` });
}

function error(status: number, type: string, reason: string): StubResponse {
  return { status, body: { error: { root_cause: [{ type, reason }], type, reason }, status } };
}
