import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { defineSink } from '../contract/plugin.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import { collectingSink, countingSource, startTestNode } from '../runtime/__fixtures__/test-node.js';
import { TopicCatalog } from './topic-catalog.js';

// A sink that declares the topic it writes, as sink-kafka does.
const publishing = defineSink({
  name: 'publish',
  version: '1.0.0',
  config: Type.Object({ topic: Type.String(), json: Type.Boolean({ default: false }) }),
  outputs: (config) => [
    {
      topic: config.topic,
      description: 'counts for the billing team',
      format: config.json ? 'json' : 'avro',
    },
  ],
  create: () => ({ write: async () => undefined, flush: async () => undefined }),
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-catalog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('topic catalog', () => {
  it('lists what the node’s pipelines write, with owner, description and schemas, over HTTP', async () => {
    const node = await startTestNode({
      dir,
      plugins: [countingSource(), collectingSink().plugin, publishing],
      pipeline: {
        name: 'counts',
        owner: 'team-billing',
        sources: [{ name: 'src', plugin: 'counting', config: { total: 5 }, description: 'counter events' }],
        sinks: [
          { name: 'mem', plugin: 'collect', inputs: ['src'] },
          { name: 'out', plugin: 'publish', inputs: ['src'], config: { topic: 'billing.counts' } },
          { name: 'raw', plugin: 'publish', inputs: ['src'], config: { topic: 'billing.raw', json: true } },
        ],
      },
    });
    try {
      const listed = (await (await fetch(`${node.url}/catalog`)).json()) as { topics: { topic: string }[] };
      const topics = listed.topics.map((t) => t.topic);
      expect(topics).toEqual(['billing.counts', 'billing.raw', expect.stringMatching(/^src\./)]);
      const sourceTopic = topics[2]!;
      expect(listed.topics[0]).toEqual({
        topic: 'billing.counts',
        kind: 'sink',
        pipeline: 'counts',
        stage: 'out',
        plugin: 'publish',
        owner: 'team-billing',
        description: 'counts for the billing team',
        keySubject: 'billing.counts-key',
        valueSubject: 'billing.counts-value',
        format: 'avro',
      });
      expect(listed.topics[1]).toMatchObject({ topic: 'billing.raw', format: 'json' });
      expect(listed.topics[1]).not.toHaveProperty('valueSubject');

      // One entry with its schemas: the source registered them when it started.
      let shown: Record<string, unknown> = {};
      for (let i = 0; i < 50 && !shown['valueSchema']; i++) {
        shown = (await (
          await fetch(`${node.url}/catalog/${encodeURIComponent(sourceTopic)}`)
        ).json()) as Record<string, unknown>;
        if (!shown['valueSchema']) await new Promise((r) => setTimeout(r, 100));
      }
      expect(shown).toMatchObject({ kind: 'source', owner: 'team-billing', description: 'counter events' });
      expect(shown['valueSchema']).toMatchObject({
        version: 1,
        schema: { type: 'record', name: 'Envelope' },
      });

      const malformed = await fetch(`${node.url}/catalog/%`);
      expect(malformed.status).toBe(400);
      const missing = await fetch(`${node.url}/catalog/nope`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: string }).error).toMatch(/"nope" is not in the catalog/);
    } finally {
      await node.stop();
    }
  });

  it('keeps the newest entry per topic across nodes and restarts', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log') });
    try {
      const catalog = await TopicCatalog.open(transport);
      const entry = {
        topic: 't',
        kind: 'sink',
        pipeline: 'p',
        stage: 's',
        plugin: 'x',
        format: 'json',
      } as const;
      await catalog.publish([entry]);
      await catalog.publish([{ ...entry, description: 'second' }]);
      await catalog.close();
      const reopened = await TopicCatalog.open(transport);
      expect(await reopened.list()).toEqual([{ ...entry, description: 'second' }]);
      await reopened.close();
    } finally {
      await transport.close();
    }
  });
});
