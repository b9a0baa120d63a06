import type { Server } from 'node:http';
import { COMPATIBILITY, SchemaRegistry as ConfluentClient } from '@kafkajs/confluent-schema-registry';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../runtime/http-server.js';
import { SCHEMA_REGISTRY_PATH } from '../runtime/mesh-node.js';
import { avroType } from './avro.js';
import { memoryRegistryStorage } from './registry-storage.js';
import { schemaRegistryRequestListener } from './registry-http-api.js';
import { SchemaRegistry } from './schema-registry.js';
import { decodeWire, encodeWire } from './wire-format.js';

// The real Confluent client (@kafkajs/confluent-schema-registry) against the registry as a node serves
// it: on the node's HTTP server, under /schema-registry.
let server: Server;
let host: string;
let client: ConfluentClient;
beforeAll(async () => {
  const registry = await SchemaRegistry.open(memoryRegistryStorage());
  ({ server, url: host } = await startHttpServer(
    '127.0.0.1',
    0,
    new Registry(),
    () => ({ status: 'ok', tasks: [] }),
    [
      {
        prefix: SCHEMA_REGISTRY_PATH,
        listener: schemaRegistryRequestListener(registry, { prefix: SCHEMA_REGISTRY_PATH }),
      },
    ],
  ));
  host = `${host}${SCHEMA_REGISTRY_PATH}`;
  client = new ConfluentClient({ host, retry: { retries: 0 } });
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function failure(promise: Promise<unknown>): Promise<Error & { status?: number }> {
  return promise.then(
    () => {
      throw new Error('expected the client to fail');
    },
    (e: unknown) => e as Error & { status?: number },
  );
}

const orderV1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'total', type: 'double' },
  ],
};
const orderV2 = {
  ...orderV1,
  fields: [...orderV1.fields, { name: 'note', type: ['null', 'string'], default: null }],
};

describe('@kafkajs/confluent-schema-registry against our registry', () => {
  it('registers a schema, finds it again by subject, version and schema, and reads it by id', async () => {
    const { id } = await client.register(
      { type: 'AVRO' as never, schema: JSON.stringify(orderV1) },
      { subject: 'orders-value' },
    );
    expect(id).toBeGreaterThan(0);
    expect((await client.register(orderV1 as never, { subject: 'orders-value' })).id).toBe(id);
    expect(await client.getLatestSchemaId('orders-value')).toBe(id);
    expect(await client.getRegistryId('orders-value', 1)).toBe(id);
    expect(await client.getRegistryIdBySchema('orders-value', orderV1 as never)).toBe(id);
    // A fresh client (nothing cached) reads the schema back by id.
    const fresh = new ConfluentClient({ host });
    const schema = (await fresh.getSchema(id)) as { name?: string };
    expect(schema.name).toBe('shop.Order');
  });

  it('encodes into the Confluent wire format our codec reads, and decodes what our codec writes', async () => {
    const id = await client.getLatestSchemaId('orders-value');
    const order = { id: 42, total: 9.5 };
    const encoded = await client.encode(id, order);
    expect(encoded[0]).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(id);
    expect(encoded.subarray(5)).toEqual(avroType(orderV1 as never).toBuffer(order));
    expect({ ...(decodeWire(encoded, avroType(orderV1 as never)) as object) }).toEqual(order);

    const ours = encodeWire(id, avroType(orderV1 as never), { id: 7, total: 1.25 });
    const fresh = new ConfluentClient({ host });
    expect({ ...(await fresh.decode(ours)) }).toEqual({ id: 7, total: 1.25 });
  });

  it('decodes old records with a newer reader schema once the compatible version is registered', async () => {
    const v1 = await client.getLatestSchemaId('orders-value');
    const old = await client.encode(v1, { id: 1, total: 2 });
    const { id: v2 } = await client.register(orderV2 as never, { subject: 'orders-value' });
    expect(v2).not.toBe(v1);
    const decoded = await client.decode(old, { AVRO: { readerSchema: orderV2 as never } } as never);
    expect({ ...decoded }).toEqual({ id: 1, total: 2, note: null });
  });

  it('gets an incompatible schema refused with HTTP 409 and the reason', async () => {
    const breaking = {
      ...orderV1,
      fields: [...orderV1.fields, { name: 'currency', type: 'string' }],
    };
    const error = await failure(client.register(breaking as never, { subject: 'orders-value' }));
    expect(error).toBeInstanceOf(Error);
    expect(error.status).toBe(409);
    expect(error.message).toMatch(/not BACKWARD-compatible.*currency/s);
  });

  it('sets a subject level through /config/{subject} on first registration and holds to it', async () => {
    const subject = 'payments-value';
    const v1 = {
      type: 'record',
      name: 'Payment',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'double' },
      ],
    };
    await client.register(v1 as never, { subject, compatibility: COMPATIBILITY.FULL });
    const config = await fetch(`${host}/config/${subject}`);
    expect(await config.json()).toEqual({ compatibilityLevel: 'FULL' });

    // Dropping `amount` is BACKWARD-compatible (the global level) but not FULL: old readers need it.
    const v2 = { type: 'record', name: 'Payment', fields: [{ name: 'id', type: 'long' }] };
    const refused = await failure(
      client.register(v2 as never, { subject, compatibility: COMPATIBILITY.FULL }),
    );
    expect(refused.status).toBe(409);

    // The client refuses to register with another level than the subject's.
    const mismatch = await failure(client.register(v2 as never, { subject }));
    expect(mismatch.name).toBe('ConfluentSchemaRegistryCompatibilityError');

    // A level set on the subject by hand (NONE) lets it in.
    await fetch(`${host}/config/${subject}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'NONE' }),
    });
    const accepted = await client.register(v2 as never, { subject, compatibility: COMPATIBILITY.NONE });
    expect(accepted.id).toBeGreaterThan(0);
  });
});
