import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compressLz4Frame, decompressLz4Frame } from './lz4-frame.js';

describe('LZ4 frames for Kafka', () => {
  it('marks blocks independent and round-trips text, random bytes and empty input across block edges', () => {
    const text = Buffer.from('order 42 shipped to rome; '.repeat(20_000)); // ~520 KiB: several 64 KiB blocks
    for (const input of [text, randomBytes(200_000), Buffer.alloc(0), Buffer.from('x')]) {
      const frame = compressLz4Frame(input);
      expect(frame.readUInt32LE(0)).toBe(0x184d2204);
      expect(frame[4]! & 0x20).toBe(0x20); // BlockIndependence: what Kafka requires
      expect(Buffer.compare(decompressLz4Frame(frame), input)).toBe(0);
    }
    expect(compressLz4Frame(text).length).toBeLessThan(text.length / 10);
  });
});
