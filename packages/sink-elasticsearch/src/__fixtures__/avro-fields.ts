import type { AvroField } from '@datamesh/core';

// Shorthands for writing row schemas in tests, the way the Postgres connector shapes its columns.

export const decimal = (precision: number, scale: number) => ({
  type: 'bytes',
  logicalType: 'decimal',
  precision,
  scale,
});

/** Every column but the key is nullable, as the Postgres connector writes them. */
export const nullable = (type: unknown) => ['null', type];

export const field = (name: string, type: unknown): AvroField => ({ name, type: type as AvroField['type'] });
