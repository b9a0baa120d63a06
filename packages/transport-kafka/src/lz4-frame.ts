import { createRequire } from 'node:module';
import lz4 from 'lz4js';

// Kafka's brokers and Java clients read LZ4 frames whose blocks are independent (the frame descriptor's
// BlockIndependence flag), and refuse a frame without it ("Dependent block stream is unsupported").
// lz4js's own frame writer leaves that flag unset and shares its match table across blocks, so frames
// are written here from lz4js's block compressor: 64 KiB blocks, each with a fresh match table.
const require = createRequire(import.meta.url);
const xxh32 = (
  require('lz4js/xxh32.js') as {
    hash: (seed: number, src: Uint8Array, index: number, length: number) => number;
  }
).hash;

const MAGIC = 0x184d2204;
const FLG_VERSION_1 = 0x40;
const FLG_BLOCK_INDEPENDENT = 0x20;
const BD_64_KIB = 4 << 4;
const BLOCK_SIZE = 64 * 1024;
const UNCOMPRESSED = 0x80000000;
const HASH_TABLE_SIZE = 1 << 16;

export function compressLz4Frame(src: Uint8Array): Buffer {
  const blocks = Math.ceil(src.length / BLOCK_SIZE);
  // Worst case: every block stored as is, with its 4-byte size; plus header and end mark.
  const out = Buffer.allocUnsafe(7 + blocks * (4 + BLOCK_SIZE) + 4);
  let at = 0;
  out.writeUInt32LE(MAGIC, at);
  at += 4;
  out[at++] = FLG_VERSION_1 | FLG_BLOCK_INDEPENDENT;
  out[at++] = BD_64_KIB;
  out[at] = (xxh32(0, out, 4, 2) >> 8) & 0xff;
  at++;
  const compressed = Buffer.allocUnsafe(lz4.compressBound(BLOCK_SIZE));
  const table = new Uint32Array(HASH_TABLE_SIZE);
  for (let start = 0; start < src.length; start += BLOCK_SIZE) {
    const length = Math.min(BLOCK_SIZE, src.length - start);
    table.fill(0);
    const size = lz4.compressBlock(src, compressed, start, length, table);
    if (size === 0 || size >= length) {
      out.writeUInt32LE((UNCOMPRESSED | length) >>> 0, at);
      at += 4;
      out.set(src.subarray(start, start + length), at);
      at += length;
    } else {
      out.writeUInt32LE(size, at);
      at += 4;
      compressed.copy(out, at, 0, size);
      at += size;
    }
  }
  out.writeUInt32LE(0, at);
  at += 4;
  return out.subarray(0, at);
}

export function decompressLz4Frame(src: Uint8Array): Buffer {
  return Buffer.from(lz4.decompress(src));
}
