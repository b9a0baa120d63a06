import { describe, expect, it } from 'vitest';
import {
  checkFrame,
  decodeKey,
  decodeRecord,
  FRAME_CORRUPT,
  FRAME_INCOMPLETE,
  frameBytesNeeded,
  frameStatus,
  encodedSize,
  encodeRecord,
  isTombstone,
  MIN_FRAME_LENGTH,
  type RecordToEncode,
} from './record-codec.js';

function encode(offset: number, record: RecordToEncode): Buffer {
  const buf = Buffer.alloc(encodedSize(record));
  expect(encodeRecord(buf, 0, offset, record)).toBe(buf.length);
  return buf;
}

function roundTrip(offset: number, record: RecordToEncode) {
  const buf = encode(offset, record);
  const check = checkFrame(buf, 0);
  if (check.kind !== 'ok') throw new Error(`expected a valid frame, got ${check.kind}`);
  expect(check.frame.size).toBe(buf.length);
  expect(frameStatus(buf, 0)).toBe(buf.length);
  return decodeRecord(buf, 0);
}

describe('record codec', () => {
  it('round-trips key, value, headers, offset and timestamp', () => {
    const record = roundTrip(123_456_789_012, {
      key: Buffer.from('order-1'),
      value: Buffer.from('{"total":3}'),
      headers: { 'content-type': 'application/json', ünï: '∂' },
      timestamp: 1_700_000_000_000,
    });
    expect(record.offset).toBe(123_456_789_012);
    expect(record.timestamp).toBe(1_700_000_000_000);
    expect(record.key?.toString()).toBe('order-1');
    expect(record.value?.toString()).toBe('{"total":3}');
    expect(record.headers).toEqual({ 'content-type': 'application/json', ünï: '∂' });
  });

  it('keeps null distinct from empty for keys and values', () => {
    const nulls = roundTrip(0, { key: null, value: null, headers: undefined, timestamp: 0 });
    expect(nulls.key).toBeNull();
    expect(nulls.value).toBeNull();
    const empties = roundTrip(1, { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: {}, timestamp: 0 });
    expect(empties.key).toEqual(Buffer.alloc(0));
    expect(empties.value).toEqual(Buffer.alloc(0));
  });

  it('handles negative timestamps and offsets beyond 32 bits', () => {
    const record = roundTrip(2 ** 40 + 7, { key: null, value: null, headers: undefined, timestamp: -1 });
    expect(record.offset).toBe(2 ** 40 + 7);
    expect(record.timestamp).toBe(-1);
  });

  it('reads the key and the tombstone flag without decoding the record', () => {
    const buf = encode(5, { key: Buffer.from('k'), value: null, headers: undefined, timestamp: 1 });
    expect(decodeKey(buf, 0)?.toString()).toBe('k');
    expect(isTombstone(buf, 0)).toBe(true);
    const live = encode(6, { key: null, value: Buffer.from('v'), headers: undefined, timestamp: 1 });
    expect(decodeKey(live, 0)).toBeNull();
    expect(isTombstone(live, 0)).toBe(false);
  });

  it('reports a frame cut short as incomplete, with the bytes it needs', () => {
    const buf = encode(0, {
      key: Buffer.from('key'),
      value: Buffer.from('value'),
      headers: undefined,
      timestamp: 1,
    });
    expect(checkFrame(buf.subarray(0, 2), 0)).toEqual({ kind: 'incomplete', needed: 4 });
    expect(frameStatus(buf.subarray(0, buf.length - 1), 0)).toBe(FRAME_INCOMPLETE);
    expect(frameBytesNeeded(buf.subarray(0, 2), 0)).toBe(4);
    expect(frameBytesNeeded(buf.subarray(0, 6), 0)).toBe(buf.length);
    expect(checkFrame(buf.subarray(0, buf.length - 1), 0)).toEqual({
      kind: 'incomplete',
      needed: buf.length,
    });
  });

  it('detects a flipped byte through the CRC, and zeroed space through the length', () => {
    const buf = encode(0, {
      key: Buffer.from('key'),
      value: Buffer.from('value'),
      headers: undefined,
      timestamp: 1,
    });
    buf[buf.length - 3]! ^= 0x01;
    expect(checkFrame(buf, 0)).toMatchObject({ kind: 'corrupt', reason: 'CRC mismatch' });
    expect(frameStatus(buf, 0)).toBe(FRAME_CORRUPT);
    expect(checkFrame(Buffer.alloc(64), 0)).toMatchObject({ kind: 'corrupt' });
    expect(MIN_FRAME_LENGTH).toBeGreaterThan(0);
  });

  it('decodes frames back to back in one buffer', () => {
    const records = [0, 1, 2].map((i) => ({
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`v${i}`),
      headers: undefined,
      timestamp: i,
    }));
    const buf = Buffer.alloc(records.reduce((n, r) => n + encodedSize(r), 0));
    let pos = 0;
    records.forEach((r, i) => (pos = encodeRecord(buf, pos, 10 + i, r)));
    const offsets: number[] = [];
    for (let at = 0; at < buf.length;) {
      const check = checkFrame(buf, at);
      if (check.kind !== 'ok') throw new Error(check.kind);
      offsets.push(decodeRecord(buf, at).offset);
      at += check.frame.size;
    }
    expect(offsets).toEqual([10, 11, 12]);
  });
});
