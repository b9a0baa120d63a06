import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChangelogMap } from '../state/changelog-map.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import { readToEnd } from '../transport/read-to-end.js';
import type { Transport } from '../transport/transport.js';
import { LocalSchemaRegistry } from './local-schema-registry.js';
import { SchemaRegistry } from './schema-registry.js';
import { SCHEMAS_TOPIC, TopicRegistryStorage } from './topic-registry-storage.js';

const schema = (name: string) => ({ schema: JSON.stringify({ type: 'record', name, fields: [] }) });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-registry-topic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens the embedded log in `dir`, runs `use` on a registry kept in its compacted topic, closes both. */
async function withRegistry<T>(use: (registry: SchemaRegistry) => Promise<T>): Promise<T> {
  const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
  try {
    const registry = await SchemaRegistry.open(await TopicRegistryStorage.open(transport));
    try {
      return await use(registry);
    } finally {
      await registry.close();
    }
  } finally {
    await transport.close();
  }
}

describe('TopicRegistryStorage on the embedded transport', () => {
  it('keeps subjects, versions, ids, levels and deletes across a reopen; ids continue after the highest', async () => {
    await withRegistry(async (registry) => {
      await registry.register('a-value', schema('A1'));
      await registry.register('b-value', schema('A1'));
      await registry.setSubjectCompatibility('a-value', 'NONE');
      await registry.register('a-value', schema('A2'));
      await registry.setGlobalCompatibility('FORWARD');
      await registry.register('c-value', schema('C'));
      await registry.deleteVersion('a-value', 2);
      // The schema with the highest id (3) goes for good: its id must not come back.
      await registry.deleteSubject('c-value');
      await registry.deleteSubject('c-value', { permanent: true });
    });

    const topic = await (async () => {
      const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
      const described = await transport.describeTopic(SCHEMAS_TOPIC);
      await transport.close();
      return described;
    })();
    expect(topic).toMatchObject({ partitions: 1, compacted: true });

    await withRegistry(async (registry) => {
      expect(registry.subjects()).toEqual(['a-value', 'b-value']);
      expect(registry.versions('a-value', { deleted: true })).toEqual([1, 2]);
      expect(registry.version('a-value', 2, { deleted: true })).toMatchObject({ id: 2, deleted: true });
      expect(registry.version('b-value', 1)).toMatchObject({ id: 1 });
      expect(registry.subjectCompatibility('a-value')).toBe('NONE');
      expect(registry.globalCompatibility()).toBe('FORWARD');
      expect(registry.subjects({ deleted: true })).not.toContain('c-value');
      const next = await registry.register('d-value', schema('D'));
      expect(next.id).toBe(4);
      // The deleted schema registered again is a new schema with a new id.
      expect((await registry.register('c-value', schema('C'))).id).toBe(5);
    });

    await withRegistry(async (registry) => {
      expect(registry.version('c-value', 1)).toMatchObject({ id: 5 });
      expect((await registry.register('e-value', schema('E'))).id).toBe(6);
    });
  });

  it('serves SchemaAccess through LocalSchemaRegistry.onTransport', async () => {
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    const local = await LocalSchemaRegistry.onTransport(transport, { topic: '__test_schemas' });
    const registered = await local.register('t-value', { type: 'record', name: 'T', fields: [] });
    await local.close();
    const reopened = await LocalSchemaRegistry.onTransport(transport, { topic: '__test_schemas' });
    expect(await reopened.byId(registered.id)).toEqual(registered);
    expect(await reopened.latest('t-value')).toEqual(registered);
    await reopened.close();
    await transport.close();
  });

  it('never ends the topic with a tombstone, so compaction cannot take its last record', async () => {
    await withRegistry(async (registry) => {
      await registry.register('a-value', schema('A'));
      await registry.deleteSubject('a-value');
      await registry.deleteSubject('a-value', { permanent: true });
    });
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    const records = [];
    for await (const batch of readToEnd(transport, SCHEMAS_TOPIC)) records.push(...batch);
    await transport.close();
    expect(records.at(-1)?.key?.toString()).toBe('{"keytype":"NEXT_ID"}');
    expect(JSON.parse(records.at(-1)!.value!.toString())).toEqual({ nextId: 2 });
  });

  it('refuses to start from a topic it could not read to its end: it would reuse ids', async () => {
    await withRegistry((registry) => registry.register('a-value', schema('A')));
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    // A transport whose reads come back empty, as a stalled one would.
    const stalled: Transport = {
      kind: 'stalled',
      ensureTopic: (name, config) => transport.ensureTopic(name, config),
      listTopics: () => transport.listTopics(),
      describeTopic: (name) => transport.describeTopic(name),
      producer: () => transport.producer(),
      sync: () => transport.sync(),
      consumer: (options) => {
        const consumer = transport.consumer(options);
        return { ...consumer, poll: async () => [], close: () => consumer.close() };
      },
      close: () => transport.close(),
    };
    const error = await TopicRegistryStorage.open(stalled).catch((e: unknown) => e as Error);
    expect(String(error)).toMatch(
      /read the schema registry's topic __datamesh_schemas only up to offset -1 of 2/,
    );
    await transport.close();
  });

  it('refuses a topic holding records it does not understand, naming the topic', async () => {
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    const map = await ChangelogMap.open(transport, SCHEMAS_TOPIC);
    await map.put('{"keytype":"SOMETHING"}', {});
    await map.close();
    const error = await TopicRegistryStorage.open(transport)
      .then((storage) => SchemaRegistry.open(storage))
      .catch((e: unknown) => e as Error);
    expect(String(error)).toMatch(/topic __datamesh_schemas holds a record with an unknown key/);
    await transport.close();
  });
});
