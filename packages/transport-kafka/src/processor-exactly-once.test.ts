import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { itWritesProcessorOutputsExactlyOnce } from '@datamesh/testkit';
import { KafkaTransport } from './index.js';

let kafka: ServiceEndpoints['kafka'];
let dir: string;
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
  dir = await mkdtemp(join(tmpdir(), 'datamesh-processor-eos-'));
}, 300_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('processor outputs on Kafka', () => {
  itWritesProcessorOutputsExactlyOnce('Kafka', {
    open: () => KafkaTransport.connect({ brokers: kafka.brokers }),
    get nodeTransport() {
      return { kind: 'kafka', kafka: { brokers: kafka.brokers } };
    },
    get dataDir() {
      return dir;
    },
  });
});
