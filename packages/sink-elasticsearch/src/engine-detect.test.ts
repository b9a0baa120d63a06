import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, TaskHaltedError, TransientError } from '@datamesh/core';
import { connectionOf } from './connection-options.js';
import { detectEngine } from './engine-detect.js';
import { elasticsearchSink } from './elasticsearch-sink.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A server answering GET / with `status`, `headers` and `body`; answers the headers it received. */
async function answering(status: number, headers: Record<string, string>, body: unknown) {
  const received: IncomingHttpHeaders[] = [];
  server = createServer((req, res) => {
    received.push(req.headers);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, received };
}

const detect = async (config: Record<string, unknown>) =>
  detectEngine(await connectionOf(parseConfig(elasticsearchSink.config, config)));

describe('detectEngine', () => {
  it('says opensearch for version.distribution "opensearch"', async () => {
    const { port } = await answering(200, {}, { version: { distribution: 'opensearch', number: '2.19.1' } });
    expect(await detect({ url: `http://127.0.0.1:${port}` })).toBe('opensearch');
  });

  it('says elasticsearch for the x-elastic-product header, whatever the status (a node without GET /)', async () => {
    const { port, received } = await answering(
      405,
      { 'x-elastic-product': 'Elasticsearch' },
      { error: 'Incorrect HTTP method' },
    );
    expect(
      await detect({ url: `http://127.0.0.1:${port}`, auth: { username: 'elastic', password: 'pw' } }),
    ).toBe('elasticsearch');
    expect(received[0]!['authorization']).toBe(`Basic ${Buffer.from('elastic:pw').toString('base64')}`);
  });

  it('says clearly when it cannot tell, and what to set', async () => {
    const { port } = await answering(
      200,
      {},
      { version: { number: '7.10.2' }, tagline: 'You Know, for Search' },
    );
    const attempt = detect({ url: `http://user:s3cret@127.0.0.1:${port}` });
    await expect(attempt).rejects.toBeInstanceOf(TaskHaltedError);
    await expect(attempt).rejects.toThrow(
      /cannot tell whether http:\/\/\*\*\*@127\.0\.0\.1:\d+ is Elasticsearch or OpenSearch: GET \/ answered 200 .*set engine: elasticsearch or engine: opensearch/,
    );
    await expect(attempt).rejects.not.toThrow(/s3cret/);
  });

  it('points at the credentials when they are refused', async () => {
    const { port } = await answering(401, {}, { error: 'unauthorized' });
    await expect(detect({ url: `http://127.0.0.1:${port}` })).rejects.toThrow(
      /credentials were refused: check auth/,
    );
  });

  it('takes an unavailable or unreachable node as transient (the task restarts and asks again)', async () => {
    const { port } = await answering(503, {}, { error: 'starting' });
    await expect(detect({ url: `http://127.0.0.1:${port}` })).rejects.toBeInstanceOf(TransientError);
    await expect(detect({ url: 'http://127.0.0.1:1' })).rejects.toThrow(
      /cannot reach http:\/\/127\.0\.0\.1:1 /,
    );
  });
});
