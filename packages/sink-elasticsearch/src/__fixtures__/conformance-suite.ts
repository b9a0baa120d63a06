import { afterAll, beforeAll } from 'vitest';
import type { SinkRecord } from '@datamesh/core';
import { describeSinkConformance } from '@datamesh/testkit';
import { elasticsearchSink } from '../elasticsearch-sink.js';
import { change } from './change-records.js';
import { engineUrl, type EngineUnderTest } from './engines.js';
import { deleteIndexes, documentsOf, uniqueIndex } from './search-index.js';

// Keys 0–4 created, then updated, with growing LSNs; key 4 deleted (and its tombstone): 4 documents at the end.
const records: SinkRecord[] = [
  ...[0, 1, 2, 3, 4].map((id, i) => change('c', id, 100 + i, { offset: i })),
  ...[0, 1, 2].map((id, i) => change('u', id, 200 + i, { offset: 5 + i })),
  change('d', 4, 300, { offset: 8 }),
  change('tombstone', 4, 0, { offset: 9 }),
];

/**
 * The sink conformance suite (idempotent: a replay adds nothing) against a real engine. Called once per engine
 * (`elasticsearch-sink.conformance.<engine>.test.ts`).
 */
export function describeConformance(target: EngineUnderTest): void {
  let url: string;
  const indexes: string[] = [];

  beforeAll(async () => {
    url = await engineUrl(target);
  }, 300_000);

  afterAll(async () => {
    if (url) await deleteIndexes(url, indexes);
  });

  describeSinkConformance(`elasticsearch (${target.title})`, {
    plugin: elasticsearchSink,
    config: () => {
      const index = uniqueIndex('conformance');
      indexes.push(index);
      return { url, index };
    },
    records,
    expectedCount: 4,
    idempotent: true,
    readBack: async ({ index }) => Object.values(await documentsOf(url, index)),
    invalidConfigs: [
      {
        config: { url: 'ftp://search:9200', engine: 'solr', index: 'Orders', bulk: { concurrency: 0 } },
        paths: ['/url', '/engine', '/index', '/bulk/concurrency'],
      },
      {
        config: { urls: [], version: { field: 'source..lsn' }, truncate: 'drop', deleteRetention: 'forever' },
        paths: ['/urls', '/version/field', '/truncate', '/deleteRetention'],
      },
    ],
  });
}
