import { afterAll, beforeAll } from 'vitest';
import { readToEnd, type ConsumedRecord } from '@datamesh/core';
import { describeSinkConformance } from '@datamesh/testkit';
import { KafkaTransport } from '@datamesh/transport-kafka';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { kafkaSink } from './index.js';
import { created, deleted, order, sinkRecords, tombstone, updated } from './__fixtures__/orders.js';

// The suite creates its tasks without a node transport, so the sink writes to Kafka as `cluster`: at least
// once. Exactly once (flushWithOffsets on the node's transport) is tested in kafka-sink.kafka.test.ts.
let kafka: ServiceEndpoints['kafka'];
let reader: KafkaTransport;
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
  reader = await KafkaTransport.connect({ brokers: kafka.brokers, clientId: 'sink-kafka-conformance' });
}, 300_000);
afterAll(async () => {
  await reader?.close();
});

const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
let topics = 0;

describeSinkConformance('kafka', {
  plugin: kafkaSink,
  config: () => ({
    topic: `conformance-sink-${run}-${topics++}`,
    partitions: 2,
    cluster: { brokers: kafka.brokers, clientId: 'sink-kafka-conformance' },
  }),
  records: sinkRecords([
    created(order(1)),
    created(order(2)),
    created(order(3), 'r'),
    updated(order(1), order(1, 111)),
    updated(null, order(2, 222)),
    created(order(4)),
    deleted(3),
    tombstone(3),
    updated(order(4), order(4, 444)),
    created(order(5)),
  ]),
  readBack: async ({ topic }) => {
    const records: ConsumedRecord[] = [];
    for await (const batch of readToEnd(reader, topic)) records.push(...batch);
    return records;
  },
  waivers: {
    'replay after crash adds no duplicates':
      'at least once on a cluster of its own (the suite gives no node transport): a replay writes again what an unacknowledged flush wrote. On the node transport it commits records and offsets in one transaction, which the suite cannot drive (it calls flush, not flushWithOffsets)',
  },
  invalidConfigs: [
    { config: {}, paths: ['/topic'] },
    {
      config: { topic: 'a b', format: 'csv', envelope: 'unwrap', exactlyOnce: 'yes', partitions: 0 },
      paths: ['/topic', '/format', '/envelope', '/exactlyOnce', '/partitions'],
    },
    {
      config: { topic: 't', key: [], cluster: { brokers: ['nohost'], sasl: { mechanism: 'gssapi' } } },
      paths: [
        '/key',
        '/cluster/brokers/0',
        '/cluster/sasl/mechanism',
        '/cluster/sasl/username',
        '/cluster/sasl/password',
      ],
    },
  ],
});
