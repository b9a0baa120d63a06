import { describe, expect, it } from 'vitest';
import { avroType, type AvroSchema } from '@datamesh/core';
import { orders } from './__fixtures__/orders.js';
import { AvroNames } from './avro-names.js';

const names = new AvroNames(orders.valueSchema as AvroSchema);

describe('AvroNames', () => {
  it('resolves references relative to the namespace they are written in, and by full name', () => {
    const status = names.resolve('Status', 'shop.public.orders');
    expect(status).toEqual({
      schema: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID', 'SHIPPED'] },
      namespace: 'shop.public.orders',
    });
    expect(names.resolve('shop.public.orders.Status', undefined).schema).toBe(status.schema);
    expect(names.resolve({ type: 'long', logicalType: 'date' } as AvroSchema, undefined).schema).toEqual({
      type: 'long',
      logicalType: 'date',
    });
    expect(() => names.resolve('Nope', 'shop')).toThrow('Avro type "Nope" is not defined in the schema');
  });

  it('copies a type so it stands on its own: full names, each named type defined once', () => {
    const defined = new Set<string>();
    const value = names.standalone('shop.public.orders.Value', undefined, defined) as {
      fields: { name: string; type: unknown }[];
    };
    const typeOf = (field: string) => value.fields.find((f) => f.name === field)?.type;
    expect(typeOf('status')).toEqual({
      type: 'enum',
      name: 'shop.public.orders.Status',
      symbols: ['NEW', 'PAID', 'SHIPPED'],
    });
    expect(typeOf('previous_status')).toEqual(['null', 'shop.public.orders.Status']);
    expect(defined).toEqual(
      new Set(['shop.public.orders.Value', 'shop.public.orders.Status', 'shop.public.orders.Address']),
    );
    expect(() => avroType(value as AvroSchema)).not.toThrow();
    // Already defined where the copy goes: referenced, not defined again.
    expect(names.standalone('Status', 'shop.public.orders', defined)).toBe('shop.public.orders.Status');
  });

  it('lets a field referring to a type defined by a dropped field stand alone', () => {
    const defined = new Set<string>();
    expect(names.standalone(['null', 'Status'] as AvroSchema, 'shop.public.orders', defined)).toEqual([
      'null',
      { type: 'enum', name: 'shop.public.orders.Status', symbols: ['NEW', 'PAID', 'SHIPPED'] },
    ]);
  });
});
