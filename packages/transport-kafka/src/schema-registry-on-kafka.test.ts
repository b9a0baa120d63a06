import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SchemaRegistry as ConfluentClient } from '@kafkajs/confluent-schema-registry';
import {
  SchemaRegistry,
  TopicRegistryStorage,
  schemaRegistryRequestListener,
  type Transport,
} from '@datamesh/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport } from './index.js';

// The node's own schema registry kept in a compacted topic on a real Kafka broker: everything survives a
// restart of the registry (a new connection, a new process as far as Kafka can tell).
let kafka: ServiceEndpoints['kafka'];
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
}, 300_000);

const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const record = (name: string, ...fields: string[]) =>
  JSON.stringify({ type: 'record', name, fields: fields.map((f) => ({ name: f, type: 'long' })) });

/** A registry on its own Kafka connection, served over HTTP like a node serves it; closes all after `use`. */
async function withRegistry<T>(
  topic: string,
  use: (registry: SchemaRegistry, url: string, transport: Transport) => Promise<T>,
): Promise<T> {
  const transport = await KafkaTransport.connect({ brokers: kafka.brokers });
  let server: Server | undefined;
  try {
    const registry = await SchemaRegistry.open(await TopicRegistryStorage.open(transport, topic));
    try {
      server = createServer(schemaRegistryRequestListener(registry));
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      return await use(registry, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, transport);
    } finally {
      if (server) await new Promise((resolve) => server!.close(resolve));
      await registry.close();
    }
  } finally {
    await transport.close();
  }
}

describe('schema registry on Kafka', () => {
  it('keeps subjects, versions, ids and levels in a compacted topic across restarts; ids never come back', async () => {
    const topic = `__datamesh_schemas_test_${run}`;
    const encoded = await withRegistry(topic, async (registry, url, transport) => {
      expect(await transport.describeTopic(topic)).toMatchObject({ partitions: 1, compacted: true });
      await registry.register('orders-value', { schema: record('Order', 'id') });
      await registry.register('copy-value', { schema: record('Order', 'id') });
      await registry.setSubjectCompatibility('orders-value', 'NONE');
      await registry.register('orders-value', { schema: record('Order', 'id', 'total') });
      await registry.register('gone-value', { schema: record('Gone', 'x') });
      await registry.deleteSubject('gone-value');
      await registry.deleteSubject('gone-value', { permanent: true });
      await registry.deleteVersion('orders-value', 2);
      // A client encodes with the registry as it is now.
      const client = new ConfluentClient({ host: url, retry: { retries: 0 } });
      return client.encode(1, { id: 7 });
    });

    await withRegistry(topic, async (registry, url) => {
      expect(registry.subjects()).toEqual(['copy-value', 'orders-value']);
      expect(registry.versions('orders-value', { deleted: true })).toEqual([1, 2]);
      expect(registry.version('orders-value', 2, { deleted: true })).toMatchObject({ id: 2, deleted: true });
      expect(registry.version('copy-value', 1)).toMatchObject({ id: 1 });
      expect(registry.subjectCompatibility('orders-value')).toBe('NONE');
      // Id 3 went with the permanently deleted subject: the next schema gets 4.
      expect((await registry.register('new-value', { schema: record('New', 'y') })).id).toBe(4);
      // A fresh client decodes what was encoded before the restart.
      const client = new ConfluentClient({ host: url, retry: { retries: 0 } });
      expect({ ...(await client.decode(encoded)) }).toEqual({ id: 7 });
    });

    await withRegistry(topic, async (registry) => {
      expect(registry.version('new-value', 1)).toMatchObject({ id: 4 });
      expect((await registry.register('later-value', { schema: record('Later', 'z') })).id).toBe(5);
    });
  }, 120_000);
});
