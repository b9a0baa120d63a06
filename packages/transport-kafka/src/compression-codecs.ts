import { promisify } from 'node:util';
import { zstdCompress, zstdDecompress } from 'node:zlib';
import kafkajs from 'kafkajs';
import { compressLz4Frame, decompressLz4Frame } from './lz4-frame.js';

// kafkajs ships gzip only and asks applications to plug in the others. zstd comes from Node's own zlib
// (Node ≥ 22.15), and lz4 from lz4js's pure-JavaScript block compressor (see lz4-frame.ts), so no native
// addon has to be built or downloaded.
const compressZstd = promisify(zstdCompress);
const decompressZstd = promisify(zstdDecompress);

interface Encoder {
  readonly buffer: Buffer;
}

const zstdCodec = {
  async compress(encoder: Encoder): Promise<Buffer> {
    return compressZstd(encoder.buffer);
  },
  async decompress(buffer: Buffer): Promise<Buffer> {
    return decompressZstd(buffer);
  },
};

const lz4Codec = {
  async compress(encoder: Encoder): Promise<Buffer> {
    return compressLz4Frame(encoder.buffer);
  },
  async decompress(buffer: Buffer): Promise<Buffer> {
    return decompressLz4Frame(buffer);
  },
};

let registered = false;

/** Makes kafkajs able to write and read lz4- and zstd-compressed batches (idempotent). */
export function registerCompressionCodecs(): void {
  if (registered) return;
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstdCodec;
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec;
  registered = true;
}
