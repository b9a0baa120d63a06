import { describe, expect, it } from 'vitest';
import { checkCrashBeforeAck, describeSourceConformance } from '@datamesh/testkit';
import { datagenSource } from './datagen-source.js';

const config = { rate: 0, batchSize: 25, keys: 50, seed: 7 };

describeSourceConformance('datagen', {
  plugin: datagenSource,
  config,
  readTimeoutMs: 2_000,
  invalidConfigs: [
    { config: { batchSize: 0 }, paths: ['/batchSize'] },
    { config: { rate: -1, deleteRatio: 2, seed: 1.5 }, paths: ['/rate', '/deleteRatio', '/seed'] },
    { config: { keys: 'many', typo: true }, paths: ['/keys', '/typo'] },
  ],
});

describe('datagen and the crash-before-acknowledge check', () => {
  // The counterpart of the eager-ack fixture in the testkit: a source that releases only in acknowledge passes.
  it('passes checkCrashBeforeAck, also when the rate limits it', async () => {
    await expect(
      checkCrashBeforeAck({ plugin: datagenSource, config, readTimeoutMs: 2_000 }),
    ).resolves.toBeUndefined();
    await expect(
      checkCrashBeforeAck({
        plugin: datagenSource,
        config: { ...config, rate: 1000, batchSize: 10 },
        readTimeoutMs: 2_000,
      }),
    ).resolves.toBeUndefined();
  });

  it('passes with a limit, when the upstream runs dry after a few batches', async () => {
    await expect(
      checkCrashBeforeAck({ plugin: datagenSource, config: { ...config, limit: 30 }, readTimeoutMs: 2_000 }),
    ).resolves.toBeUndefined();
  });
});
