import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '../transport.js';
import { EmbeddedTransport } from './embedded-transport.js';
import { readAll } from './__fixtures__/read-all.js';
import { TransactionJournal } from './transaction-journal.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-journal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const record = (value: string) => ({
  key: Buffer.from(`k-${value}`),
  value: Buffer.from(value),
  headers: undefined,
  timestamp: 1_700_000_000_000,
});

const placed = (records: readonly ConsumedRecord[]) =>
  records.map((r) => `${r.partition}@${r.offset}=${r.value!.toString()}`);

/**
 * A crash between a transaction's journal and the end of its apply, staged: the journal is written as a commit
 * writes it, and only some of its records reach their partitions before the log is closed.
 */
async function crashMidApply(
  applied: (producer: ReturnType<EmbeddedTransport['producer']>) => Promise<unknown>,
) {
  const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
  await transport.ensureTopic('out', { partitions: 2 });
  await transport.ensureTopic('state', { partitions: 1, compacted: true });
  await transport.ensureTopic('in', { partitions: 1 });
  const producer = transport.producer();
  await producer.send([{ topic: 'out', key: null, value: Buffer.from('before'), partition: 0 }]);
  await new TransactionJournal(dir, false).write({
    partitions: [
      { topic: 'out', partition: 0, base: 1, records: [record('a1'), record('a2')] },
      { topic: 'out', partition: 1, base: 0, records: [record('b1')] },
      { topic: 'state', partition: 0, base: 0, records: [record('s1')] },
    ],
    offsets: new Map([['copier', [{ topic: 'in', partition: 0, offset: 7 }]]]),
  });
  await applied(producer);
  await producer.close();
  await transport.close();
}

describe('a transaction journal left by a crash', () => {
  it('is completed on opening: the records its partitions lack are appended and its offsets stored', async () => {
    await crashMidApply((producer) =>
      producer.send([{ topic: 'out', key: Buffer.from('k-a1'), value: Buffer.from('a1'), partition: 0 }]),
    );

    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    try {
      expect(transport.transactionRecovery).toEqual({ appended: 3, groups: ['copier'] });
      expect(placed(await readAll(transport, 'out'))).toEqual(['0@0=before', '0@1=a1', '0@2=a2', '1@0=b1']);
      expect(placed(await readAll(transport, 'state'))).toEqual(['0@0=s1']);
      const group = transport.consumer({ group: 'copier', topics: ['in'] });
      expect(await group.committed()).toEqual([{ topic: 'in', partition: 0, offset: 7 }]);
      await group.close();
      expect((await stat(join(dir, 'transaction.journal'))).size).toBe(0);
    } finally {
      await transport.close();
    }

    // Completed once: opening again finds no journal and appends nothing more.
    const reopened = await EmbeddedTransport.open({ dir, fsync: 'never' });
    expect(reopened.transactionRecovery).toBeUndefined();
    expect(placed(await readAll(reopened, 'out'))).toHaveLength(4);
    await reopened.close();
  });

  it('appends nothing when the crash came after every record was in place', async () => {
    await crashMidApply((producer) =>
      producer.send([
        { topic: 'out', key: Buffer.from('k-a1'), value: Buffer.from('a1'), partition: 0 },
        { topic: 'out', key: Buffer.from('k-a2'), value: Buffer.from('a2'), partition: 0 },
        { topic: 'out', key: Buffer.from('k-b1'), value: Buffer.from('b1'), partition: 1 },
        { topic: 'state', key: Buffer.from('k-s1'), value: Buffer.from('s1'), partition: 0 },
      ]),
    );

    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    try {
      expect(transport.transactionRecovery).toEqual({ appended: 0, groups: ['copier'] });
      expect(placed(await readAll(transport, 'out'))).toEqual(['0@0=before', '0@1=a1', '0@2=a2', '1@0=b1']);
    } finally {
      await transport.close();
    }
  });

  it('is ignored when torn: its commit had appended nothing, so the transaction never happened', async () => {
    await crashMidApply(async () => undefined);
    // The write of the journal was cut short.
    const path = join(dir, 'transaction.journal');
    await truncate(path, (await stat(path)).size - 7);

    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    try {
      expect(transport.transactionRecovery).toBeUndefined();
      expect(placed(await readAll(transport, 'out'))).toEqual(['0@0=before']);
      const group = transport.consumer({ group: 'copier', topics: ['in'] });
      expect(await group.committed()).toEqual([]);
      await group.close();
    } finally {
      await transport.close();
    }
  });

  it('is ignored when a byte of it changed, rather than completed wrong', async () => {
    await crashMidApply(async () => undefined);
    const path = join(dir, 'transaction.journal');
    const bytes = await readFile(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 0xff, bytes.length - 20);
    await writeFile(path, bytes);

    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    try {
      expect(transport.transactionRecovery).toBeUndefined();
      expect(placed(await readAll(transport, 'out'))).toEqual(['0@0=before']);
    } finally {
      await transport.close();
    }
  });
});
