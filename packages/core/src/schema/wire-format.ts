import type { AvroType } from './avro.js';

/** Confluent wire format: magic byte 0, schema id (int32 big-endian), Avro binary body. */
export const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export function encodeWire(schemaId: number, type: AvroType, value: unknown): Buffer {
  const body = type.toBuffer(value);
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeInt32BE(schemaId, 1);
  body.copy(out, HEADER_BYTES);
  return out;
}

/** Bytes that are not a record of the Confluent wire format, or whose Avro body does not decode. */
export class WireFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WireFormatError';
  }
}

export function readSchemaId(buffer: Buffer): number {
  if (buffer.length < HEADER_BYTES || buffer.readUInt8(0) !== MAGIC_BYTE) {
    throw new WireFormatError(
      `not a Confluent wire-format record (first byte ${buffer[0] ?? 'missing'}, length ${buffer.length})`,
    );
  }
  return buffer.readInt32BE(1);
}

export function decodeWire(buffer: Buffer, type: AvroType): unknown {
  try {
    return type.fromBuffer(buffer.subarray(HEADER_BYTES));
  } catch (error) {
    throw new WireFormatError(
      `the Avro body of a record with schema id ${buffer.readInt32BE(1)} does not decode: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
