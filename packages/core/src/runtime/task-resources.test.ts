import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logging/logger.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import { LocalSchemaRegistry } from '../schema/local-schema-registry.js';
import { envelopeSchemas } from '../schema/envelope-schema.js';
import { assertKeysFollow, ensureStreamTopic } from './task-resources.js';

let dir = '';
let transport: EmbeddedTransport;
const logger = createLogger({ level: 'silent' });
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-task-resources-'));
  transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
});
afterEach(async () => {
  await transport.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ensureStreamTopic', () => {
  it('creates a repartition topic with the partition count of the topic whose keys it follows', async () => {
    await transport.ensureTopic('customers', { partitions: 5 });
    await ensureStreamTopic(transport, { topic: 'by-customer', partitionsLike: 'customers' }, 3, logger);
    expect((await transport.describeTopic('by-customer'))?.partitions).toBe(5);
  });

  it('creates both with the default count when the followed topic does not exist yet, and others with it', async () => {
    await ensureStreamTopic(transport, { topic: 'by-customer', partitionsLike: 'customers' }, 3, logger);
    await ensureStreamTopic(transport, { topic: 'plain' }, 2, logger);
    expect((await transport.describeTopic('customers'))?.partitions).toBe(3);
    expect((await transport.describeTopic('by-customer'))?.partitions).toBe(3);
    expect((await transport.describeTopic('plain'))?.partitions).toBe(2);
  });
});

describe('assertKeysFollow', () => {
  const key = (doc?: string) => ({
    ...envelopeSchemas({ name: 'shop.customers', keyFields: ['id'], fields: [{ name: 'id', type: 'long' }] })
      .keySchema,
    ...(doc ? { doc } : {}),
  });

  it('passes when the followed topic has no key yet or the same key schema, refuses another', async () => {
    const schemas = await LocalSchemaRegistry.open();
    const stream = { topic: 'by-customer', partitionsLike: 'customers', keySchema: key() };
    await assertKeysFollow(schemas, stream);
    await schemas.register('customers-key', key());
    await assertKeysFollow(schemas, stream);
    // The same fields spelled with a doc: another schema id, other key bytes, other partitions.
    await schemas.register('customers-key', key('the customer'));
    await expect(assertKeysFollow(schemas, stream)).rejects.toThrow(
      /topic by-customer is partitioned by the key of customers, but that topic's keys are written with schema id \d+ and this one's with \d+/,
    );
  });
});
