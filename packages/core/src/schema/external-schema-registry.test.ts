import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventCodec } from '../runtime/event-codec.js';
import { ExternalSchemaRegistry } from './external-schema-registry.js';
import { RegistryRequestError } from './registry-client.js';
import { memoryRegistryStorage } from './registry-storage.js';
import { schemaRegistryRequestListener } from './registry-http-api.js';
import { IncompatibleSchemaError, SchemaRegistry } from './schema-registry.js';

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

// ExternalSchemaRegistry against a real HTTP registry (ours, behind a listener that can demand basic auth
// and counts requests), and against addresses where no registry answers.
const servers: Server[] = [];
async function serve(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

let registry: SchemaRegistry;
let url: string;
const requests: string[] = [];
beforeAll(async () => {
  registry = await SchemaRegistry.open(memoryRegistryStorage());
  const api = schemaRegistryRequestListener(registry, { prefix: '/registry' });
  url = await serve((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const expected = `Basic ${Buffer.from('svc:s3cret').toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    api(req, res);
  });
  url = `${url}/registry`;
});
afterEach(() => {
  requests.length = 0;
});

const basicAuth = { username: 'svc', password: 's3cret' };
const order = {
  type: 'record' as const,
  name: 'Order',
  fields: [{ name: 'id', type: 'long' as const }],
};

describe('ExternalSchemaRegistry', () => {
  it('registers, reads the latest and by id, with basic auth; ids are cached', async () => {
    const external = new ExternalSchemaRegistry({ url, basicAuth });
    const registered = await external.register('orders-value', order);
    expect(registered).toEqual({ subject: 'orders-value', id: 1, version: 1, schema: order });
    expect(await external.register('orders-value', order)).toEqual(registered);
    expect(await external.latest('orders-value')).toEqual(registered);
    expect(await external.latest('nothing-value')).toBeUndefined();
    expect(await new ExternalSchemaRegistry({ url, basicAuth }).byId(1)).toEqual(registered);
    expect(await external.byId(99)).toBeUndefined();

    requests.length = 0;
    const reader = new ExternalSchemaRegistry({ url, basicAuth });
    await Promise.all([reader.byId(1), reader.byId(1), reader.byId(1)]);
    await reader.byId(1);
    expect(requests.filter((r) => r.startsWith('GET /registry/schemas/ids/1'))).toHaveLength(2); // schema + versions
  });

  it('takes credentials from the URL', async () => {
    const external = new ExternalSchemaRegistry({ url: url.replace('http://', 'http://svc:s3cret@') });
    expect(external.url).toBe(url);
    expect((await external.byId(1))?.id).toBe(1);
  });

  it('moves events through EventCodec with the external registry', async () => {
    const external = new ExternalSchemaRegistry({ url, basicAuth });
    const codec = new EventCodec(external);
    await codec.prepareTopic('shop.orders', order, {
      type: 'record',
      name: 'Envelope',
      fields: [{ name: 'op', type: 'string' }],
    });
    const record = codec.encode('shop.orders', { key: { id: 5 }, value: { op: 'c' } as never });
    const decoded = await new EventCodec(new ExternalSchemaRegistry({ url, basicAuth })).decode({
      ...record,
      partition: 0,
      offset: 0,
      timestamp: 0,
      headers: {},
    });
    expect({ key: { ...decoded.key }, value: { ...decoded.value } }).toEqual({
      key: { id: 5 },
      value: { op: 'c' },
    });
  });

  it('turns a 409 into IncompatibleSchemaError, and checks a requested level itself', async () => {
    const external = new ExternalSchemaRegistry({ url, basicAuth });
    const breaking = { ...order, fields: [...order.fields, { name: 'total', type: 'double' as const }] };
    const error = await rejection(external.register('orders-value', breaking));
    expect(error).toBeInstanceOf(IncompatibleSchemaError);
    expect((error as Error).message).toMatch(/refused POST \/subjects\/orders-value\/versions: .*total/s);
    // Removing `id` is BACKWARD (the registry's level) but not FORWARD, which the caller asks for.
    const shrunk = { ...order, fields: [] };
    const forward = await rejection(external.register('orders-value', shrunk, 'FORWARD'));
    expect(forward).toBeInstanceOf(IncompatibleSchemaError);
    expect((forward as Error).message).toMatch(/not FORWARD-compatible/);
    expect(registry.versions('orders-value')).toEqual([1]);
  });

  it('says when the credentials are refused, naming the user and the URL', async () => {
    const wrong = new ExternalSchemaRegistry({
      url,
      basicAuth: { username: 'svc', password: 'nope' },
      hint: 'Fix it.',
    });
    const error = await rejection(wrong.byId(1));
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect(error.message).toBe(
      `the schema registry at ${url} refused the credentials of user "svc" (401 on GET /schemas/ids/1: Unauthorized). Fix it.`,
    );
    expect(error.message).not.toContain('nope');
  });

  it('says when nothing listens at the URL', async () => {
    const closed = await serve(() => undefined);
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve));
    const error = await rejection(new ExternalSchemaRegistry({ url: closed }).latest('x'));
    expect(error.message).toMatch(
      new RegExp(
        `^cannot reach the schema registry at ${closed} \\(ECONNREFUSED\\)\\. Check the registry URL`,
      ),
    );
  });

  it('gives up after the timeout, saying which request', async () => {
    const silent = await serve(() => undefined);
    const error = await rejection(new ExternalSchemaRegistry({ url: silent, timeoutMs: 200 }).byId(3));
    expect(error.message).toMatch(
      `the schema registry at ${silent} did not answer GET /schemas/ids/3 within 200 ms`,
    );
  });

  it('says when the URL answers but is no schema registry', async () => {
    const other = await serve((_, res) =>
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'),
    );
    const error = await rejection(new ExternalSchemaRegistry({ url: other }).byId(1));
    expect(error.message).toMatch(
      /answered GET \/schemas\/ids\/1 with HTTP 404 and no registry error: is .* a Confluent-compatible schema registry\?/,
    );
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => new ExternalSchemaRegistry({ url: 'registry:8081' })).toThrow(/must start with http/);
    expect(() => new ExternalSchemaRegistry({ url: 'not a url' })).toThrow(/is not a URL/);
  });
});
