import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthReport {
  readonly status: 'ok' | 'degraded' | 'stopping';
  readonly tasks: readonly {
    id: string;
    state: string;
    restarts: number;
    lastError?: string;
    /** A task run once per input partition: the partition numbers this node runs. */
    partitions?: readonly number[];
  }[];
}

/** A request listener that answers every path under `prefix` (e.g. the schema registry's REST API). */
export interface HttpMount {
  readonly prefix: string;
  readonly listener: RequestListener;
}

/**
 * Serves `/metrics` (Prometheus text format) and `/health` (JSON; 503 unless every task runs), and hands
 * requests under each mount's prefix to its listener.
 */
export async function startHttpServer(
  host: string,
  port: number,
  registry: Registry,
  health: () => HealthReport,
  mounts: readonly HttpMount[] = [],
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const mount = mounts.find((m) => path === m.prefix || path.startsWith(`${m.prefix}/`));
    if (mount) {
      mount.listener(req, res);
    } else if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    } else if (path === '/health') {
      const report = health();
      res
        .writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(report));
    } else {
      const paths = ['/metrics', '/health', ...mounts.map((m) => `${m.prefix}/`)];
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end(`not found: try ${paths.slice(0, -1).join(', ')} or ${paths.at(-1)}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, url: `http://${host}:${address.port}` };
}
