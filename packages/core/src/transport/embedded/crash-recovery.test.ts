import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '../transport.js';
import { EmbeddedTransport } from './embedded-transport.js';
import { runChild } from './__fixtures__/child-lines.js';

const child = fileURLToPath(new URL('./__fixtures__/append-until-killed.mjs', import.meta.url));

interface Ack {
  readonly seq: number;
  readonly partition: number;
  readonly offset: number;
}

/** Starts the appending child, SIGKILLs it once `acks` records were acknowledged, returns what it acknowledged. */
async function appendUntilKilled(dir: string, startSeq: number, acks: number): Promise<Ack[]> {
  const acked: Ack[] = [];
  const ended = await runChild(child, [dir, String(startSeq)], (line, proc) => {
    const [seq, partition, offset] = line.split(' ').map(Number);
    if (acked.length >= acks || line === 'ready') return;
    if (seq === undefined || partition === undefined || offset === undefined) return;
    acked.push({ seq, partition, offset });
    if (acked.length >= acks) proc.kill('SIGKILL');
  });
  if (ended !== 'killed') throw new Error('the appending child stopped by itself');
  return acked;
}

function valueOf(n: number): string {
  return `value-${n}-`.padEnd(100 + (n % 200), 'x');
}

async function readTopic(dir: string): Promise<{ records: ConsumedRecord[]; endOffsets: readonly number[] }> {
  const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
  try {
    const endOffsets = (await transport.describeTopic('crash'))?.endOffsets ?? [];
    const total = endOffsets.reduce((a, b) => a + b, 0);
    const consumer = transport.consumer({ group: `verify-${Math.random()}`, topics: ['crash'] });
    const records: ConsumedRecord[] = [];
    while (records.length < total) {
      const got = await consumer.poll({ maxRecords: 5000, maxWaitMs: 0 });
      if (got.length === 0) break;
      records.push(...got);
    }
    await consumer.close();
    return { records, endOffsets };
  } finally {
    await transport.close();
  }
}

function expectIntact(
  records: readonly ConsumedRecord[],
  endOffsets: readonly number[],
  acked: readonly Ack[],
): void {
  const byPosition = new Map<string, ConsumedRecord>();
  const offsetsPerPartition = new Map<number, number[]>();
  for (const r of records) {
    byPosition.set(`${r.partition}/${r.offset}`, r);
    offsetsPerPartition.set(r.partition, [...(offsetsPerPartition.get(r.partition) ?? []), r.offset]);
    // Every stored record, acknowledged or not, is whole.
    const seq = Number(r.headers['seq']);
    expect(r.value?.toString()).toBe(valueOf(seq));
    expect(r.key?.toString()).toBe(`key-${seq % 17}`);
  }
  endOffsets.forEach((end, partition) => {
    expect(offsetsPerPartition.get(partition) ?? []).toEqual(Array.from({ length: end }, (_, i) => i));
  });
  for (const ack of acked) {
    const r = byPosition.get(`${ack.partition}/${ack.offset}`);
    expect(r, `acknowledged record ${ack.seq} at ${ack.partition}/${ack.offset}`).toBeDefined();
    expect(r?.headers['seq']).toBe(String(ack.seq));
  }
}

describe('embedded transport after kill -9', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datamesh-crash-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'keeps every acknowledged record, intact and with contiguous offsets, across two crashes',
    { timeout: 30_000 },
    async () => {
      const first = await appendUntilKilled(dir, 0, 4000);
      const afterFirst = await readTopic(dir);
      expectIntact(afterFirst.records, afterFirst.endOffsets, first);

      // The second writer recovers the log left by the first kill, appends after it, and is killed in turn.
      const second = await appendUntilKilled(dir, 1_000_000, 4000);
      const afterSecond = await readTopic(dir);
      expectIntact(afterSecond.records, afterSecond.endOffsets, [...first, ...second]);
      expect(afterSecond.records.length).toBeGreaterThanOrEqual(first.length + second.length);
    },
  );
});
