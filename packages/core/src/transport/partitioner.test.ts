import { describe, expect, it } from 'vitest';
import { DefaultPartitioner, murmur2, partitionForKey, toPositive } from './partitioner.js';

describe('murmur2', () => {
  // The vectors of Kafka's own UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
  const kafkaVectors: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];

  it.each(kafkaVectors)('hashes %s like the Java client', (input, expected) => {
    expect(murmur2(Buffer.from(input))).toBe(expected);
  });

  it('handles bytes above 0x7f like Java signed bytes masked with 0xff', () => {
    const bytes = Uint8Array.from([0xff, 0x80, 0x00, 0x7f, 0xfe]);
    expect(murmur2(bytes)).toBe(murmur2(Buffer.from(bytes)));
    expect(Number.isInteger(murmur2(bytes))).toBe(true);
  });
});

describe('partitionForKey', () => {
  it('takes toPositive(murmur2) modulo the partition count, as Kafka does', () => {
    expect(toPositive(-790332482)).toBe(1357151166);
    expect(partitionForKey(Buffer.from('foobar'), 50)).toBe(16);
    expect(partitionForKey(Buffer.from('foobar'), 10)).toBe(6);
    expect(partitionForKey(Buffer.from('21'), 7)).toBe(toPositive(-973932308) % 7);
  });

  it('rejects a partition count below 1', () => {
    expect(() => partitionForKey(Buffer.from('k'), 0)).toThrow(RangeError);
  });
});

describe('DefaultPartitioner', () => {
  it('round-robins records without a key, per topic', () => {
    const p = new DefaultPartitioner();
    expect([0, 1, 2, 3].map(() => p.partition('a', null, 3))).toEqual([0, 1, 2, 0]);
    expect(p.partition('b', null, 3)).toBe(0);
  });

  it('sends the same key to the same partition', () => {
    const p = new DefaultPartitioner();
    const key = Buffer.from('order-42');
    expect(p.partition('a', key, 8)).toBe(partitionForKey(key, 8));
    expect(p.partition('a', key, 8)).toBe(p.partition('b', key, 8));
  });
});
