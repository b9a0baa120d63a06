import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryRegistryStorage } from './registry-storage.js';
import { SCHEMA_REGISTRY_CONTENT_TYPE, schemaRegistryRequestListener } from './registry-http-api.js';
import { SchemaRegistry } from './schema-registry.js';

// The REST API over raw fetch: status codes, Confluent error codes and the content type.
let server: Server;
let base: string;
beforeAll(async () => {
  const registry = await SchemaRegistry.open(memoryRegistryStorage());
  server = createServer(schemaRegistryRequestListener(registry, { prefix: '/schema-registry' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/schema-registry`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  status: number;
  type: string | null;
  body: unknown;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = SCHEMA_REGISTRY_CONTENT_TYPE,
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'content-type': contentType },
        }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a raw schema or an empty body
  }
  return { status: response.status, type: response.headers.get('content-type'), body: parsed };
}

const avro = (name: string, ...fields: { name: string; type: unknown; default?: unknown }[]) =>
  JSON.stringify({ type: 'record', name, namespace: 'test', fields });
const v1 = avro('Order', { name: 'id', type: 'long' });
const v2 = avro(
  'Order',
  { name: 'id', type: 'long' },
  { name: 'note', type: ['null', 'string'], default: null },
);
const breaking = avro('Order', { name: 'id', type: 'long' }, { name: 'total', type: 'double' });

function expectError(answer: Answer, status: number, code: number): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.type).toBe(SCHEMA_REGISTRY_CONTENT_TYPE);
  expect(answer.body).toEqual({ error_code: code, message: expect.any(String) });
}

describe('schema registry REST API', () => {
  it('registers, lists and reads schemas in the Confluent shapes', async () => {
    const empty = await call('GET', '/subjects');
    expect(empty).toEqual({ status: 200, type: SCHEMA_REGISTRY_CONTENT_TYPE, body: [] });

    expect((await call('POST', '/subjects/orders-value/versions', { schema: v1 })).body).toEqual({ id: 1 });
    expect((await call('POST', '/subjects/orders-value/versions', { schema: v1 })).body).toEqual({ id: 1 });
    expect(
      (await call('POST', '/subjects/orders-value/versions', { schema: v2 }, 'application/json')).body,
    ).toEqual({ id: 2 });
    expect(
      (await call('POST', '/subjects/copy-value/versions', { schema: v1, schemaType: 'AVRO' })).body,
    ).toEqual({ id: 1 });

    expect((await call('GET', '/subjects')).body).toEqual(['copy-value', 'orders-value']);
    expect((await call('GET', '/subjects/orders-value/versions')).body).toEqual([1, 2]);
    expect((await call('GET', '/subjects/orders-value/versions/latest')).body).toEqual({
      subject: 'orders-value',
      version: 2,
      id: 2,
      schema: v2,
    });
    expect((await call('GET', '/subjects/orders-value/versions/1')).body).toMatchObject({
      version: 1,
      id: 1,
    });
    expect((await call('GET', '/subjects/orders-value/versions/1/schema')).body).toEqual(JSON.parse(v1));
    expect((await call('GET', '/schemas/ids/1')).body).toEqual({ schema: v1 });
    expect((await call('GET', '/schemas/ids/1/schema')).body).toEqual(JSON.parse(v1));
    expect((await call('GET', '/schemas/ids/1/versions')).body).toEqual([
      { subject: 'copy-value', version: 1 },
      { subject: 'orders-value', version: 1 },
    ]);
    expect((await call('GET', '/schemas/ids/1/subjects')).body).toEqual(['copy-value', 'orders-value']);
    expect((await call('GET', '/schemas/types')).body).toEqual(['AVRO']);
    expect((await call('GET', '/subjects/orders-value/versions/2/referencedby')).body).toEqual([]);
    expect((await call('GET', '/')).body).toEqual({});
    expect((await call('GET', '/subjects/')).body).toEqual(['copy-value', 'orders-value']);
  });

  it('looks a schema up under a subject (POST /subjects/{s})', async () => {
    expect((await call('POST', '/subjects/orders-value', { schema: v2 })).body).toEqual({
      subject: 'orders-value',
      id: 2,
      version: 2,
      schema: v2,
    });
    expectError(await call('POST', '/subjects/orders-value', { schema: breaking }), 404, 40403);
    expectError(await call('POST', '/subjects/nobody', { schema: v1 }), 404, 40401);
  });

  it('answers unknown subjects, versions and ids with 40401, 40402, 40403 and bad versions with 42202', async () => {
    expectError(await call('GET', '/subjects/nobody/versions'), 404, 40401);
    expectError(await call('GET', '/subjects/nobody/versions/latest'), 404, 40401);
    expectError(await call('GET', '/subjects/orders-value/versions/9'), 404, 40402);
    expectError(await call('GET', '/subjects/orders-value/versions/first'), 422, 42202);
    expectError(await call('GET', '/subjects/orders-value/versions/0'), 422, 42202);
    expectError(await call('GET', '/schemas/ids/99'), 404, 40403);
    expectError(await call('GET', '/schemas/ids/x'), 404, 40403);
    expectError(await call('GET', '/schemas/ids/99/versions'), 404, 40403);
  });

  it('refuses invalid schemas (42201), other schema types, references, and imports (42205)', async () => {
    expectError(await call('POST', '/subjects/bad/versions', { schema: '{"type": "recrd"}' }), 422, 42201);
    expectError(await call('POST', '/subjects/bad/versions', { schema: 'not json' }), 422, 42201);
    expectError(await call('POST', '/subjects/bad/versions', {}), 422, 42201);
    const protobuf = await call('POST', '/subjects/bad/versions', {
      schema: 'syntax = "proto3"; message M {}',
      schemaType: 'PROTOBUF',
    });
    expectError(protobuf, 422, 42201);
    expect((protobuf.body as { message: string }).message).toMatch(/PROTOBUF is not supported/);
    const json = await call('POST', '/subjects/bad/versions', {
      schema: '{"type":"object"}',
      schemaType: 'JSON',
    });
    expectError(json, 422, 42201);
    expectError(
      await call('POST', '/subjects/bad/versions', {
        schema: v1,
        references: [{ name: 'x', subject: 'y', version: 1 }],
      }),
      422,
      42201,
    );
    expectError(await call('POST', '/subjects/bad/versions', { schema: v1, id: 77 }), 422, 42205);
    expectError(await call('GET', '/subjects/bad/versions'), 404, 40401);
  });

  it('refuses an incompatible schema with HTTP 409 and tells why with verbose compatibility checks', async () => {
    const refused = await call('POST', '/subjects/orders-value/versions', { schema: breaking });
    expectError(refused, 409, 40901);
    expect((refused.body as { message: string }).message).toMatch(/not BACKWARD-compatible.*\n.*total/s);

    const quiet = await call('POST', '/compatibility/subjects/orders-value/versions/latest', {
      schema: breaking,
    });
    expect(quiet).toMatchObject({ status: 200, body: { is_compatible: false } });
    expect(quiet.body).not.toHaveProperty('messages');
    const verbose = await call('POST', '/compatibility/subjects/orders-value/versions/latest?verbose=true', {
      schema: breaking,
    });
    expect(verbose.body).toEqual({
      is_compatible: false,
      messages: [expect.stringMatching(/no matching field for default-less .*total/)],
    });
    expect(
      (await call('POST', '/compatibility/subjects/orders-value/versions?verbose=true', { schema: v2 })).body,
    ).toEqual({ is_compatible: true, messages: [] });
    expect(
      (await call('POST', '/compatibility/subjects/orders-value/versions/1', { schema: v2 })).body,
    ).toEqual({
      is_compatible: true,
    });
    expectError(
      await call('POST', '/compatibility/subjects/orders-value/versions/7', { schema: v2 }),
      404,
      40402,
    );
    expect(
      (await call('POST', '/compatibility/subjects/new-value/versions/latest', { schema: v2 })).body,
    ).toEqual({ is_compatible: true });
  });

  it('keeps the global and subject compatibility levels (40408 without one, 42203 for a bad one)', async () => {
    expect((await call('GET', '/config')).body).toEqual({ compatibilityLevel: 'BACKWARD' });
    expectError(await call('GET', '/config/orders-value'), 404, 40408);
    expect((await call('GET', '/config/orders-value?defaultToGlobal=true')).body).toEqual({
      compatibilityLevel: 'BACKWARD',
    });
    expectError(await call('PUT', '/config/orders-value', { compatibility: 'SIDEWAYS' }), 422, 42203);
    expect((await call('PUT', '/config/orders-value', { compatibility: 'NONE' })).body).toEqual({
      compatibility: 'NONE',
    });
    expect((await call('GET', '/config/orders-value')).body).toEqual({ compatibilityLevel: 'NONE' });
    // NONE lets the breaking schema in.
    expect((await call('POST', '/subjects/orders-value/versions', { schema: breaking })).body).toEqual({
      id: 3,
    });
    expect((await call('DELETE', '/config/orders-value')).body).toEqual({ compatibilityLevel: 'NONE' });
    expectError(await call('DELETE', '/config/orders-value'), 404, 40401);
    expect((await call('PUT', '/config', { compatibility: 'full_transitive' })).body).toEqual({
      compatibility: 'FULL_TRANSITIVE',
    });
    expect((await call('GET', '/config')).body).toEqual({ compatibilityLevel: 'FULL_TRANSITIVE' });
    expect((await call('DELETE', '/config')).body).toEqual({ compatibilityLevel: 'FULL_TRANSITIVE' });
    expect((await call('GET', '/config')).body).toEqual({ compatibilityLevel: 'BACKWARD' });
    expect((await call('GET', '/mode')).body).toEqual({ mode: 'READWRITE' });
    expectError(await call('PUT', '/mode', { mode: 'READONLY' }), 422, 42204);
  });

  it('soft-deletes, then permanently deletes versions and subjects', async () => {
    await call('POST', '/subjects/gone-value/versions', { schema: v1 });
    await call('POST', '/subjects/gone-value/versions', { schema: v2 });
    expectError(await call('DELETE', '/subjects/gone-value/versions/2?permanent=true'), 404, 40407);
    expect((await call('DELETE', '/subjects/gone-value/versions/2')).body).toBe(2);
    expectError(await call('DELETE', '/subjects/gone-value/versions/2'), 404, 40406);
    expect((await call('GET', '/subjects/gone-value/versions')).body).toEqual([1]);
    expect((await call('GET', '/subjects/gone-value/versions?deleted=true')).body).toEqual([1, 2]);
    expectError(await call('GET', '/subjects/gone-value/versions/2'), 404, 40402);
    expect((await call('GET', '/subjects/gone-value/versions/2?deleted=true')).body).toMatchObject({ id: 2 });
    expect((await call('DELETE', '/subjects/gone-value/versions/2?permanent=true')).body).toBe(2);
    expect((await call('GET', '/subjects/gone-value/versions?deleted=true')).body).toEqual([1]);

    expectError(await call('DELETE', '/subjects/gone-value?permanent=true'), 404, 40405);
    expect((await call('DELETE', '/subjects/gone-value')).body).toEqual([1]);
    expectError(await call('DELETE', '/subjects/gone-value'), 404, 40404);
    expect((await call('GET', '/subjects')).body).not.toContain('gone-value');
    expect((await call('GET', '/subjects?deleted=true')).body).toContain('gone-value');
    expect((await call('DELETE', '/subjects/gone-value?permanent=true')).body).toEqual([1]);
    expectError(await call('DELETE', '/subjects/gone-value'), 404, 40401);
  });

  it('decodes subjects with reserved characters from the path', async () => {
    const subject = 'a/b c?d';
    await call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema: v1 });
    expect((await call('GET', '/subjects')).body).toContain(subject);
    expect((await call('GET', `/subjects/${encodeURIComponent(subject)}/versions/1`)).body).toMatchObject({
      subject,
    });
  });

  it('answers unknown paths, wrong methods, bad bodies and content types in the same error shape', async () => {
    expectError(await call('GET', '/nothing/here'), 404, 404);
    expectError(await call('PATCH', '/subjects'), 405, 405);
    expectError(await call('POST', '/subjects/x/versions', '{"schema": '), 400, 400);
    expectError(await call('POST', '/subjects/x/versions', { schema: v1 }, 'text/plain'), 415, 415);
    const outside = await fetch(base.replace('/schema-registry', '/other'));
    expect(outside.status).toBe(404);
  });
});
