import { access, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logging/logger.js';
import { planPipeline } from '../pipeline/planner.js';
import { SourceDocument } from '../pipeline/source-document.js';
import { PluginRegistry } from '../registry/plugin-registry.js';
import { RegistryRequestError } from '../schema/registry-client.js';
import { SCHEMAS_TOPIC } from '../schema/topic-registry-storage.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import type { Transport } from '../transport/transport.js';
import { collectingSink, countingSource, until } from './__fixtures__/test-node.js';
import { MeshNode } from './mesh-node.js';
import { NodeConfigSchema, type NodeConfig } from './node-config.js';

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

// How a node gets its schema registry: its own (served under /schema-registry, in a file beside the
// embedded log or in a compacted topic elsewhere), or an external one by URL.
let dir: string;
const nodes: MeshNode[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-node-registry-'));
});
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startNode(
  name: string,
  schemaRegistry: Record<string, unknown> = {},
  wrap: (t: Transport) => Transport = (t) => t,
) {
  const sink = collectingSink();
  const plugins = new PluginRegistry();
  for (const plugin of [countingSource(), sink.plugin])
    plugins.add({ plugin, packageName: plugin.name, packageVersion: '1.0.0', packageDir: dir });
  const plan = await planPipeline(
    SourceDocument.fromValue({
      apiVersion: 'datamesh/v1',
      kind: 'Pipeline',
      name,
      sources: [{ name, plugin: 'counting', config: { total: 20 } }],
      sinks: [{ name: 'mem', plugin: 'collect', inputs: [name] }],
    }),
    plugins,
  );
  const dataDir = join(dir, name);
  const config = Value.Default(NodeConfigSchema, {
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir,
    http: { port: 0 },
    tasks: { flushIntervalMs: 50 },
    schemaRegistry,
  }) as NodeConfig;
  const transport = wrap(await EmbeddedTransport.open({ dir: join(dataDir, 'log'), fsync: 'never' }));
  const node = await MeshNode.start({
    config,
    plans: [plan],
    transport,
    logger: createLogger({ level: 'silent' }),
  });
  nodes.push(node);
  await until(() => sink.flushed.length >= 20);
  return { node, dataDir, transport };
}

const json = async (url: string) => (await fetch(url)).json() as Promise<unknown>;

describe('a node and its schema registry', () => {
  it('serves its own registry under /schema-registry, kept beside the embedded log', async () => {
    const { node, dataDir } = await startNode('own');
    expect(node.schemaRegistryUrl).toBe(`${node.url}/schema-registry`);
    const subjects = (await json(`${node.schemaRegistryUrl}/subjects`)) as string[];
    expect(subjects).toEqual(['own.counters-key', 'own.counters-value']);
    const latest = (await json(`${node.schemaRegistryUrl}/subjects/own.counters-value/versions/latest`)) as {
      id: number;
    };
    expect(await json(`${node.schemaRegistryUrl}/schemas/ids/${latest.id}`)).toHaveProperty('schema');
    await access(join(dataDir, 'schemas.json'));
    expect((await fetch(`${node.url}/metrics`)).status).toBe(200);
  });

  it('does not serve it with serve: false', async () => {
    const { node } = await startNode('quiet', { serve: false });
    expect(node.schemaRegistryUrl).toBeUndefined();
    expect((await fetch(`${node.url}/schema-registry/subjects`)).status).toBe(404);
  });

  it('keeps it in a compacted topic on a transport other than the embedded one', async () => {
    const other = (t: Transport): Transport => ({
      kind: 'other',
      ensureTopic: (name, config) => t.ensureTopic(name, config),
      listTopics: () => t.listTopics(),
      describeTopic: (name) => t.describeTopic(name),
      producer: () => t.producer(),
      consumer: (options) => t.consumer(options),
      sync: () => t.sync(),
      close: () => t.close(),
    });
    const { node, dataDir, transport } = await startNode('topic', {}, other);
    expect(await transport.describeTopic(SCHEMAS_TOPIC)).toMatchObject({ compacted: true, partitions: 1 });
    await expect(access(join(dataDir, 'schemas.json'))).rejects.toThrow();
    expect(await json(`${node.schemaRegistryUrl}/subjects`)).toEqual([
      'topic.counters-key',
      'topic.counters-value',
    ]);
  });

  it('uses an external registry by URL: registers there and serves none', async () => {
    const { node: owner } = await startNode('owner');
    const { node } = await startNode('client', { url: owner.schemaRegistryUrl });
    expect(node.schemaRegistryUrl).toBe(owner.schemaRegistryUrl);
    expect((await fetch(`${node.url}/schema-registry/subjects`)).status).toBe(404);
    expect(await json(`${owner.schemaRegistryUrl}/subjects`)).toEqual([
      'client.counters-key',
      'client.counters-value',
      'owner.counters-key',
      'owner.counters-value',
    ]);
  });

  it('refuses to start when the external registry does not answer, saying what to check', async () => {
    // A port nothing listens on: taken, then freed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/registry`;
    await new Promise((resolve) => probe.close(resolve));
    const error = await rejection(startNode('lost', { url, timeoutMs: 2000 }));
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect(error.message).toBe(
      `cannot reach the schema registry at ${url} (ECONNREFUSED). Check schemaRegistry.url (and ` +
        'schemaRegistry.basicAuth) in the node config, and that the registry runs.',
    );
  });
});
