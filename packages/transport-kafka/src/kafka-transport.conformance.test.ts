import { beforeAll } from 'vitest';
import { describeTransportConformance } from '@datamesh/testkit';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport } from './kafka-transport.js';

// The suite the embedded transport passes, against a real Kafka broker started by tools/services.
let kafka: ServiceEndpoints['kafka'];
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
}, 300_000);

describeTransportConformance(
  'kafka',
  () => KafkaTransport.connect({ brokers: kafka.brokers, sessionTimeoutMs: 10_000 }),
  {
    timeoutMs: 30_000,
    transactions: true,
  },
);
