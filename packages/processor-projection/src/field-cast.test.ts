import { describe, expect, it } from 'vitest';
import type { AvroSchema } from '@datamesh/core';
import { castOf, CastError, type CastTarget, type Convert } from './field-cast.js';

function cast(schema: unknown, target: CastTarget): Convert {
  const result = castOf(schema as AvroSchema, target);
  if ('problem' in result) throw new Error(result.problem);
  return result;
}

describe('casts to string', () => {
  it.each([
    [{ type: 'int', logicalType: 'date' }, 19_760, '2024-02-07'],
    [{ type: 'int', logicalType: 'time-millis' }, 52_200_123, '14:30:00.123'],
    [{ type: 'long', logicalType: 'time-micros' }, 52_200_123_456, '14:30:00.123456'],
    [
      { type: 'long', logicalType: 'timestamp-millis' },
      Date.UTC(2024, 0, 15, 14, 30),
      '2024-01-15T14:30:00.000Z',
    ],
    [
      { type: 'long', logicalType: 'local-timestamp-micros' },
      1_705_329_000_000_007,
      '2024-01-15T14:30:00.000007',
    ],
    [{ type: 'bytes', logicalType: 'decimal', precision: 4, scale: 3 }, Buffer.from([0x00, 0x05]), '0.005'],
    [
      { type: 'fixed', name: 'Money', size: 2, logicalType: 'decimal', precision: 4, scale: 0 },
      Buffer.from([0xff]),
      '-1',
    ],
    ['double', 0.1, '0.1'],
    ['boolean', false, 'false'],
  ])('%j %j is %j', (schema, value, text) => {
    expect(cast(schema, 'string')(value)).toBe(text);
  });
});

describe('casts to numbers', () => {
  it('truncates toward zero and checks the range of an int', () => {
    expect(cast('double', 'long')(-2.9)).toBe(-2);
    expect(cast('long', 'int')(2 ** 31 - 1)).toBe(2 ** 31 - 1);
    expect(() => cast('long', 'int')(2 ** 31)).toThrow(
      new CastError('cannot cast 2147483648 to int: out of its range'),
    );
    expect(() => cast('double', 'long')(Number.NaN)).toThrow(CastError);
  });

  it('parses numeric text, and refuses text that is not', () => {
    expect(cast('string', 'double')(' 1e3 ')).toBe(1000);
    expect(() => cast('string', 'double')('')).toThrow('cannot cast "" to double');
    expect(() => cast('string', 'int')('1.5')).toThrow('cannot cast "1.5" to int');
  });
});

describe('casts to boolean', () => {
  it('reads the usual spellings of true and false, and non-zero integers as true', () => {
    expect(['TRUE', ' yes', 't', '1'].map(cast('string', 'boolean'))).toEqual([true, true, true, true]);
    expect(['False', 'no', 'f', '0'].map(cast('string', 'boolean'))).toEqual([false, false, false, false]);
    expect(() => cast('string', 'boolean')('maybe')).toThrow(CastError);
    expect([0, 3].map(cast('int', 'boolean'))).toEqual([false, true]);
  });
});

describe('casts without a meaning', () => {
  it.each([
    ['bytes', 'string', 'a bytes cannot be cast to string'],
    [
      { type: 'array', items: 'long' },
      'long',
      'an array cannot be cast; derive the value with an expr instead',
    ],
    ['double', 'boolean', 'a double cannot be cast to boolean'],
  ])('%j to %s: %s', (schema, target, problem) => {
    expect(castOf(schema as AvroSchema, target as CastTarget)).toEqual({ problem });
  });
});
