/**
 * Decodes the messages of Postgres's built-in logical decoding plugin `pgoutput` (protocol version 1,
 * text tuples), as documented in "Logical Replication Message Formats". LSNs are bigints.
 */

export type TupleValue =
  | { readonly kind: 'null' }
  /** An unchanged TOASTed value: the server did not send it. */
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'text'; readonly text: string };

export type Tuple = readonly TupleValue[];

export interface RelationColumn {
  readonly name: string;
  /** Part of the replica identity (the primary key unless REPLICA IDENTITY says otherwise). */
  readonly isKey: boolean;
  readonly typeOid: number;
  readonly typeMod: number;
}

export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export type PgOutputMessage =
  | {
      readonly tag: 'begin';
      readonly finalLsn: bigint;
      readonly commitTimeMicros: bigint;
      readonly xid: number;
    }
  | {
      readonly tag: 'commit';
      readonly commitLsn: bigint;
      readonly endLsn: bigint;
      readonly commitTimeMicros: bigint;
    }
  | {
      readonly tag: 'relation';
      readonly relationId: number;
      readonly schema: string;
      readonly table: string;
      readonly replicaIdentity: ReplicaIdentity;
      readonly columns: readonly RelationColumn[];
    }
  | { readonly tag: 'type'; readonly typeOid: number; readonly schema: string; readonly name: string }
  | { readonly tag: 'insert'; readonly relationId: number; readonly newTuple: Tuple }
  | {
      readonly tag: 'update';
      readonly relationId: number;
      /** The old key (`K`, when the key changed) or the full old row (`O`, REPLICA IDENTITY FULL). */
      readonly oldTuple: Tuple | null;
      readonly oldIsKeyOnly: boolean;
      readonly newTuple: Tuple;
    }
  | {
      readonly tag: 'delete';
      readonly relationId: number;
      readonly oldTuple: Tuple;
      readonly oldIsKeyOnly: boolean;
    }
  | {
      readonly tag: 'truncate';
      readonly relationIds: readonly number[];
      readonly cascade: boolean;
      readonly restartIdentity: boolean;
    }
  | {
      readonly tag: 'message';
      readonly transactional: boolean;
      readonly lsn: bigint;
      readonly prefix: string;
      readonly content: Buffer;
    }
  | { readonly tag: 'origin'; readonly lsn: bigint; readonly name: string };

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01T00:00:00Z). */
export const POSTGRES_EPOCH_MICROS = 946_684_800_000_000n;

const REPLICA_IDENTITIES: Record<string, ReplicaIdentity> = {
  d: 'default',
  n: 'nothing',
  f: 'full',
  i: 'index',
};

/** Reads one pgoutput message (the payload of an XLogData frame). */
export function decodePgOutput(buffer: Buffer): PgOutputMessage {
  const reader = new Reader(buffer);
  const tag = String.fromCharCode(reader.byte());
  switch (tag) {
    case 'B':
      return {
        tag: 'begin',
        finalLsn: reader.int64(),
        commitTimeMicros: reader.int64(),
        xid: reader.uint32(),
      };
    case 'C': {
      reader.byte(); // flags, unused
      return {
        tag: 'commit',
        commitLsn: reader.int64(),
        endLsn: reader.int64(),
        commitTimeMicros: reader.int64(),
      };
    }
    case 'R': {
      const relationId = reader.uint32();
      const schema = reader.cstring();
      const table = reader.cstring();
      const identity = String.fromCharCode(reader.byte());
      const count = reader.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const flags = reader.byte();
        columns.push({
          isKey: (flags & 1) === 1,
          name: reader.cstring(),
          typeOid: reader.uint32(),
          typeMod: reader.int32(),
        });
      }
      return {
        tag: 'relation',
        relationId,
        schema,
        table,
        replicaIdentity: REPLICA_IDENTITIES[identity] ?? 'default',
        columns,
      };
    }
    case 'Y':
      return { tag: 'type', typeOid: reader.uint32(), schema: reader.cstring(), name: reader.cstring() };
    case 'I': {
      const relationId = reader.uint32();
      reader.expect('N');
      return { tag: 'insert', relationId, newTuple: reader.tuple() };
    }
    case 'U': {
      const relationId = reader.uint32();
      let marker = String.fromCharCode(reader.byte());
      let oldTuple: Tuple | null = null;
      let oldIsKeyOnly = false;
      if (marker === 'K' || marker === 'O') {
        oldIsKeyOnly = marker === 'K';
        oldTuple = reader.tuple();
        marker = String.fromCharCode(reader.byte());
      }
      if (marker !== 'N') throw new PgOutputError(`update message: expected 'N', found '${marker}'`);
      return { tag: 'update', relationId, oldTuple, oldIsKeyOnly, newTuple: reader.tuple() };
    }
    case 'D': {
      const relationId = reader.uint32();
      const marker = String.fromCharCode(reader.byte());
      if (marker !== 'K' && marker !== 'O') {
        throw new PgOutputError(`delete message: expected 'K' or 'O', found '${marker}'`);
      }
      return { tag: 'delete', relationId, oldIsKeyOnly: marker === 'K', oldTuple: reader.tuple() };
    }
    case 'T': {
      const count = reader.uint32();
      const options = reader.byte();
      const relationIds: number[] = [];
      for (let i = 0; i < count; i++) relationIds.push(reader.uint32());
      return {
        tag: 'truncate',
        relationIds,
        cascade: (options & 1) === 1,
        restartIdentity: (options & 2) === 2,
      };
    }
    case 'M': {
      const transactional = reader.byte() === 1;
      const lsn = reader.int64();
      const prefix = reader.cstring();
      const length = reader.uint32();
      return { tag: 'message', transactional, lsn, prefix, content: reader.bytes(length) };
    }
    case 'O':
      return { tag: 'origin', lsn: reader.int64(), name: reader.cstring() };
    default:
      throw new PgOutputError(
        `unknown pgoutput message '${tag}' (streamed transactions are not requested; is proto_version 1 in use?)`,
      );
  }
}

export class PgOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgOutputError';
  }
}

/** Formats an LSN as Postgres prints it (`16/B374D848`). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) throw new PgOutputError(`"${text}" is not an LSN (expected the form 16/B374D848)`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

class Reader {
  private offset = 0;
  private readonly buffer: Buffer;
  constructor(buffer: Buffer) {
    this.buffer = buffer;
  }

  byte(): number {
    this.need(1);
    return this.buffer.readUInt8(this.offset++);
  }

  int16(): number {
    this.need(2);
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  int64(): bigint {
    this.need(8);
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  cstring(): string {
    const end = this.buffer.indexOf(0, this.offset);
    if (end < 0) throw new PgOutputError('truncated pgoutput message: unterminated string');
    const text = this.buffer.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  bytes(length: number): Buffer {
    this.need(length);
    // A copy: the frame is a view of the driver's read buffer, which is reused.
    const value = Buffer.from(this.buffer.subarray(this.offset, this.offset + length));
    this.offset += length;
    return value;
  }

  expect(marker: string): void {
    const found = String.fromCharCode(this.byte());
    if (found !== marker)
      throw new PgOutputError(`expected '${marker}' in pgoutput message, found '${found}'`);
  }

  tuple(): TupleValue[] {
    const count = this.int16();
    const values: TupleValue[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const kind = String.fromCharCode(this.byte());
      if (kind === 'n') values[i] = NULL_VALUE;
      else if (kind === 'u') values[i] = UNCHANGED_VALUE;
      else if (kind === 't') {
        const length = this.uint32();
        this.need(length);
        values[i] = { kind: 'text', text: this.buffer.toString('utf8', this.offset, this.offset + length) };
        this.offset += length;
      } else throw new PgOutputError(`tuple column of kind '${kind}' (binary mode is not requested)`);
    }
    return values;
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) throw new PgOutputError('truncated pgoutput message');
  }
}

const NULL_VALUE: TupleValue = Object.freeze({ kind: 'null' });
const UNCHANGED_VALUE: TupleValue = Object.freeze({ kind: 'unchanged' });
