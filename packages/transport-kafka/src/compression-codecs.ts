import { promisify } from 'node:util';
import { zstdCompress, zstdDecompress } from 'node:zlib';
import kafkajs from 'kafkajs';
import lz4 from 'lz4js';

// kafkajs ships gzip only and asks applications to plug in the others. zstd comes from Node's own zlib
// (Node ≥ 22.15), and lz4 from lz4js, a pure-JavaScript implementation of the LZ4 frame format Kafka uses,
// so no native addon has to be built or downloaded.
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
    return Buffer.from(lz4.compress(encoder.buffer));
  },
  async decompress(buffer: Buffer): Promise<Buffer> {
    return Buffer.from(lz4.decompress(buffer));
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
