import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  envelopeSchemas,
  parseConfig,
  PlanError,
  type ChangeEvent,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { maskProcessor } from './mask-processor.js';

const source = { connector: 'test', name: 'shop', ts_ms: 1, snapshot: 'false' };

function change(op: 'c' | 'u' | 'd', before: Row | null, after: Row | null): ChangeEvent {
  return { key: { id: 1 }, value: { before, after, op, ts_ms: 2, source } };
}

async function mask(config: unknown, events: readonly ChangeEvent[]): Promise<readonly ChangeEvent[]> {
  const ctx = await createTestContext({ plugin: 'mask' });
  const task = await maskProcessor.create(parseConfig(maskProcessor.config, config), ctx);
  return task.process(events, 'customers');
}

const row = { id: 1, email: 'ada@example.com', name: 'Ada', phone: null };

describe('mask hash', () => {
  it('replaces a field by the HMAC-SHA-256 of its value under the salt', async () => {
    const [out] = await mask({ fields: ['email'], salt: 'pepper' }, [change('c', null, row)]);
    expect(out?.value?.after).toEqual({
      ...row,
      email: createHmac('sha256', 'pepper').update('ada@example.com').digest('hex'),
    });
  });

  it('is stable across batches and instances, so masked values still join', async () => {
    const customers = await mask({ fields: ['email'], salt: 's' }, [change('c', null, row)]);
    const orders = await mask({ fields: ['email'], salt: 's' }, [
      change('u', { id: 9, email: 'ada@example.com' }, { id: 9, email: 'ada@example.com' }),
    ]);
    const hashed = customers[0]?.value?.after?.['email'];
    expect(hashed).toMatch(/^[0-9a-f]{64}$/);
    expect(orders[0]?.value?.before?.['email']).toBe(hashed);
    expect(orders[0]?.value?.after?.['email']).toBe(hashed);
  });

  it('gives other values for another salt', async () => {
    const [a] = await mask({ fields: ['email'], salt: 'one' }, [change('c', null, row)]);
    const [b] = await mask({ fields: ['email'], salt: 'two' }, [change('c', null, row)]);
    expect(a?.value?.after?.['email']).not.toBe(b?.value?.after?.['email']);
  });
});

describe('mask redact', () => {
  it('replaces each configured field by *** in before and after', async () => {
    const [out] = await mask({ fields: ['email', 'name'], method: 'redact' }, [
      change('u', row, { ...row, name: 'Ada L.' }),
    ]);
    expect(out?.value?.before).toEqual({ ...row, email: '***', name: '***' });
    expect(out?.value?.after).toEqual({ ...row, email: '***', name: '***' });
  });
});

describe('what mask leaves alone', () => {
  it('keeps null fields, missing images and tombstones as they are', async () => {
    const tombstone: ChangeEvent = { key: { id: 1 }, value: null };
    const events = [change('c', null, row), change('d', row, null), tombstone];
    const [created, deleted, after] = await mask({ fields: ['email', 'phone'] }, events);
    expect(created?.value?.after?.['phone']).toBeNull();
    expect(created?.value?.before).toBeNull();
    expect(deleted?.value?.after).toBeNull();
    expect(deleted?.value?.before?.['phone']).toBeNull();
    expect(after).toBe(tombstone);
  });

  it('keeps the key, the source block, other fields, and the input events', async () => {
    const input = change('c', null, row);
    const copy = structuredClone(input);
    const [out] = await mask({ fields: ['email'] }, [input]);
    expect(input).toEqual(copy);
    expect(out?.key).toEqual({ id: 1 });
    expect(out?.value?.source).toEqual(source);
    expect(out?.value?.after).toMatchObject({ id: 1, name: 'Ada', phone: null });
  });
});

describe('mask plan', () => {
  const input = (fields: Parameters<typeof envelopeSchemas>[0]['fields']): ProcessorInput => ({
    name: 'customers',
    ...envelopeSchemas({ name: 'shop.customers', keyFields: ['id'], fields }),
  });
  const config = (fields: string[]) => parseConfig(maskProcessor.config, { fields });

  it('keeps the schemas and records which fields it transforms', () => {
    const customers = input([
      { name: 'id', type: 'long' },
      { name: 'email', type: 'string' },
    ]);
    const plan = maskProcessor.plan([customers], config(['email']));
    expect(plan.valueSchema).toEqual(customers.valueSchema);
    expect(plan.lineage).toEqual([
      { output: 'after.id', inputs: [{ input: 'customers', field: 'after.id' }] },
      {
        output: 'after.email',
        inputs: [{ input: 'customers', field: 'after.email' }],
        transform: 'hmac-sha256',
      },
    ]);
  });

  it('accepts string fields in every spelling: "string", nullable, and {"type": "string"} with properties', () => {
    const customers = input([
      { name: 'id', type: 'long' },
      { name: 'email', type: ['null', 'string'], default: null },
      { name: 'name', type: { type: 'string', 'avro.java.string': 'String' } as never },
    ]);
    expect(() => maskProcessor.plan([customers], config(['email', 'name']))).not.toThrow();
  });

  it('refuses missing and non-string fields, naming each', () => {
    const customers = input([
      { name: 'id', type: 'long' },
      { name: 'uuid', type: { type: 'string', logicalType: 'uuid' } as never },
    ]);
    const plan = () => maskProcessor.plan([customers], config(['email', 'id', 'uuid']));
    expect(plan).toThrow(PlanError);
    expect(plan).toThrow(
      /field "email" is not in customers.*field "id" of customers is "long", not a string.*field "uuid"/,
    );
  });
});
