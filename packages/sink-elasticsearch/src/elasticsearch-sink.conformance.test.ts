import { afterAll, beforeAll } from 'vitest';
import type { SinkRecord } from '@datamesh/core';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { describeSinkConformance } from '@datamesh/testkit';
import { change } from './__fixtures__/change-records.js';
import { deleteIndexes, documentsOf, uniqueIndex } from './__fixtures__/opensearch-index.js';
import { elasticsearchSink } from './elasticsearch-sink.js';

let opensearch: ServiceEndpoints['opensearch'];
const indexes: string[] = [];

beforeAll(async () => {
  ({ opensearch } = await useServices('opensearch'));
}, 300_000);

afterAll(async () => {
  if (opensearch) await deleteIndexes(opensearch.url, indexes);
});

// Keys 0–4 created, then updated, with growing LSNs; key 4 deleted (and its tombstone): 4 documents at the end.
const records: SinkRecord[] = [
  ...[0, 1, 2, 3, 4].map((id, i) => change('c', id, 100 + i, { offset: i })),
  ...[0, 1, 2].map((id, i) => change('u', id, 200 + i, { offset: 5 + i })),
  change('d', 4, 300, { offset: 8 }),
  change('tombstone', 4, 0, { offset: 9 }),
];

describeSinkConformance('elasticsearch (OpenSearch)', {
  plugin: elasticsearchSink,
  config: () => {
    const index = uniqueIndex('conformance');
    indexes.push(index);
    return { url: opensearch.url, index };
  },
  records,
  expectedCount: 4,
  idempotent: true,
  readBack: async ({ index }) => Object.values(await documentsOf(opensearch.url, index)),
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
