import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { TaskHaltedError, TransientError } from '@datamesh/core';
import { authorizationOf, redactUrl, type Connection } from './connection-options.js';
import type { Engine } from './index-mapping.js';

export interface RootResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Asks the cluster's first node that answers which engine it is, with a plain `GET /` (no client library, whose own checks would
 * refuse the other engine): `version.distribution: "opensearch"` ⇒ OpenSearch; an `x-elastic-product:
 * Elasticsearch` header, whatever the status (a node without `GET /` answers 405 with it) ⇒ Elasticsearch.
 * Node's http(s) rather than `fetch`, so the connection's CA and certificate checking apply.
 */
export async function detectEngine(connection: Connection): Promise<Engine> {
  let unreachable: unknown;
  // The first node that answers tells; a node that does not is skipped.
  for (const url of connection.nodes) {
    let response: RootResponse;
    try {
      response = await getRoot(url, connection);
    } catch (error) {
      unreachable = error;
      continue;
    }
    return engineOfRoot(response, url);
  }
  const nodes = connection.nodes.map(redactUrl).join(', ');
  throw new TransientError(
    `cannot reach ${nodes} to tell whether it is Elasticsearch or OpenSearch: ${(unreachable as Error)?.message}`,
    { cause: unreachable },
  );
}

/** The engine a `GET /` response shows, or an error that says why it cannot tell and what to do. */
export function engineOfRoot(response: RootResponse, url: string): Engine {
  if (response.headers['x-elastic-product'] === 'Elasticsearch') return 'elasticsearch';
  let distribution: unknown;
  try {
    distribution = (JSON.parse(response.body) as { version?: { distribution?: unknown } }).version
      ?.distribution;
  } catch {
    distribution = undefined;
  }
  if (distribution === 'opensearch') return 'opensearch';
  const what =
    `cannot tell whether ${redactUrl(url)} is Elasticsearch or OpenSearch: GET / answered ${response.status} ` +
    'with neither an x-elastic-product: Elasticsearch header nor version.distribution "opensearch"';
  if (response.status === 429 || response.status >= 500) throw new TransientError(what);
  const hint =
    response.status === 401 || response.status === 403 ? ' (the credentials were refused: check auth)' : '';
  throw new TaskHaltedError(
    `${what}${hint}; set engine: elasticsearch or engine: opensearch in the sink config`,
  );
}

function getRoot(url: string, connection: Connection): Promise<RootResponse> {
  const target = new URL(url);
  const authorization = authorizationOf(connection);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const basePath = target.pathname.endsWith('/') ? target.pathname : `${target.pathname}/`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        path: basePath,
        method: 'GET',
        timeout: connection.requestTimeoutMs,
        headers: {
          accept: 'application/json',
          ...(authorization !== undefined
            ? { authorization }
            : target.username
              ? {
                  authorization: `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`,
                }
              : {}),
        },
        ...(target.protocol === 'https:'
          ? {
              rejectUnauthorized: connection.tls?.rejectUnauthorized ?? true,
              ...(connection.tls?.ca === undefined ? {} : { ca: connection.tls.ca }),
            }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${connection.requestTimeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
