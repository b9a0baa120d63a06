import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConsumedRecord, Consumer, Transport } from '../transport.js';
import { RebalancedError } from './consumer-group.js';
import { DirLockedError } from './dir-lock.js';
import { EmbeddedTransport, type EmbeddedTransportOptions } from './embedded-transport.js';
import { PartitionLog } from './partition-log.js';

let dir = '';
const opened: Transport[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-embedded-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
  await rm(dir, { recursive: true, force: true });
});

async function open(options: Partial<EmbeddedTransportOptions> = {}): Promise<EmbeddedTransport> {
  const transport = await EmbeddedTransport.open({
    dir,
    fsync: 'never',
    maintenanceIntervalMs: 0,
    ...options,
  });
  opened.push(transport);
  return transport;
}

async function close(transport: Transport): Promise<void> {
  opened.splice(opened.indexOf(transport), 1);
  await transport.close();
}

function rec(topic: string, key: string | null, value: string | null) {
  return {
    topic,
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
  };
}

async function drain(consumer: Consumer, count: number, timeoutMs = 5_000): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 100 })));
  }
  return out;
}

describe('EmbeddedTransport', () => {
  describe('locking', () => {
    it('refuses a second writer on the same directory, naming the pid', async () => {
      await open();
      const error = await EmbeddedTransport.open({ dir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DirLockedError);
      expect((error as DirLockedError).pid).toBe(process.pid);
      expect((error as Error).message).toContain(`process ${process.pid}`);
      expect((error as Error).message).toContain('readOnly');
    });

    it('can be opened again once closed', async () => {
      await close(await open());
      await open();
    });

    it('takes over the lock of a process that is gone', async () => {
      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      await writeFile(join(dir, 'LOCK'), `${dead}\n`);
      const transport = await open();
      expect((await readFile(join(dir, 'LOCK'), 'utf8')).trim()).toBe(String(process.pid));
      await close(transport);
    });
  });

  describe('read-only opening', () => {
    it('takes no lock, sees what the writer appends and the topics it creates, and refuses writes', async () => {
      const writer = await open();
      await writer.ensureTopic('events', { partitions: 2 });
      const producer = writer.producer();
      await producer.send([rec('events', 'a', '1'), rec('events', 'b', '2')]);

      const reader = await open({ readOnly: true, tailIntervalMs: 10 });
      expect(await reader.listTopics()).toEqual(['events']);
      const consumer = reader.consumer({ group: 'tail', topics: ['events'] });
      expect(await drain(consumer, 2)).toHaveLength(2);

      const waiting = drain(consumer, 1);
      await producer.send([rec('events', 'c', '3')]);
      expect((await waiting).map((r) => r.value?.toString())).toEqual(['3']);

      await writer.ensureTopic('later', { partitions: 1 });
      expect(await reader.listTopics()).toEqual(['events', 'later']);
      expect((await reader.describeTopic('events'))?.endOffsets.reduce((a, b) => a + b)).toBe(3);

      await expect(reader.producer().send([rec('events', 'x', 'y')])).rejects.toThrow(/read-only/);
      await expect(consumer.commit([{ topic: 'events', partition: 0, offset: 1 }])).rejects.toThrow(
        /read-only/,
      );
      await expect(reader.ensureTopic('new', { partitions: 1 })).rejects.toThrow(/read-only/);
    });

    it('fails clearly when the directory does not exist', async () => {
      await expect(EmbeddedTransport.open({ dir: join(dir, 'missing'), readOnly: true })).rejects.toThrow(
        /does not exist/,
      );
    });
  });

  describe('topics', () => {
    it('validates names and configs', async () => {
      const transport = await open();
      await expect(transport.ensureTopic('../escape', { partitions: 1 })).rejects.toThrow(
        /invalid topic name/,
      );
      await expect(transport.ensureTopic('ok', { partitions: 0 })).rejects.toThrow(/partitions/);
    });

    it('grows partitions, refuses to shrink them, and keeps settings not given again', async () => {
      const transport = await open();
      await transport.ensureTopic('state', { partitions: 2, compacted: true, retentionMs: 1000 });
      await transport.ensureTopic('state', { partitions: 4 });
      expect(await transport.describeTopic('state')).toEqual({
        partitions: 4,
        compacted: true,
        retentionMs: 1000,
        endOffsets: [0, 0, 0, 0],
      });
      await expect(transport.ensureTopic('state', { partitions: 3 })).rejects.toThrow(/grow but not shrink/);
      await close(transport);
      const reopened = await open();
      expect((await reopened.describeTopic('state'))?.partitions).toBe(4);
      const stored = JSON.parse(
        await readFile(join(dir, 'topics', 'state', 'topic.json'), 'utf8'),
      ) as unknown;
      expect(stored).toEqual({ partitions: 4, compacted: true, retentionMs: 1000 });
    });

    it('refuses records it cannot place, before writing any of the send', async () => {
      const transport = await open();
      await transport.ensureTopic('t', { partitions: 2 });
      await transport.ensureTopic('c', { partitions: 1, compacted: true });
      const producer = transport.producer();
      await expect(producer.send([rec('t', 'k', 'v'), rec('nope', 'k', 'v')])).rejects.toThrow(
        /does not exist/,
      );
      await expect(producer.send([{ ...rec('t', 'k', 'v'), partition: 2 }])).rejects.toThrow(/out of range/);
      await expect(producer.send([rec('c', null, 'v')])).rejects.toThrow(/needs a key/);
      expect((await transport.describeTopic('t'))?.endOffsets).toEqual([0, 0]);
    });
  });

  describe('consumers', () => {
    it('waits for records without spinning', async () => {
      const transport = await open();
      await transport.ensureTopic('quiet', { partitions: 4 });
      const consumer = transport.consumer({ group: 'g', topics: ['quiet'] });
      const reads = vi.spyOn(PartitionLog.prototype, 'read');
      expect(await consumer.poll({ maxRecords: 10, maxWaitMs: 300 })).toEqual([]);
      // One look at each of the 4 partitions before waiting, one after the timeout.
      expect(reads.mock.calls.length).toBeLessThanOrEqual(8);
      reads.mockRestore();
    });

    it('refuses a commit for a partition the consumer does not own', async () => {
      const transport = await open();
      await transport.ensureTopic('t', { partitions: 2 });
      const a = transport.consumer({ group: 'g', topics: ['t'] });
      transport.consumer({ group: 'g', topics: ['t'] });
      await expect(a.commit([{ topic: 't', partition: 1, offset: 0 }])).rejects.toBeInstanceOf(
        RebalancedError,
      );
      await a.commit([{ topic: 't', partition: 0, offset: 0 }]);
    });

    it('stores committed offsets durably as JSON per group', async () => {
      const transport = await open();
      await transport.ensureTopic('t', { partitions: 1 });
      await transport.producer().send([rec('t', 'k', 'v'), rec('t', 'k', 'w')]);
      const consumer = transport.consumer({ group: 'billing/eu', topics: ['t'] });
      await consumer.commit([{ topic: 't', partition: 0, offset: 2 }]);
      const file = JSON.parse(await readFile(join(dir, 'groups', 'billing%2Feu.json'), 'utf8')) as unknown;
      expect(file).toEqual({ group: 'billing/eu', offsets: { t: { '0': 2 } } });
      expect(await consumer.lag()).toBe(0);
    });

    it('reads a compacted topic across the gaps compaction leaves', async () => {
      const transport = await open({ segmentBytes: 300, tombstoneRetentionMs: 0 });
      await transport.ensureTopic('state', { partitions: 1, compacted: true });
      const producer = transport.producer();
      for (let i = 0; i < 40; i++) await producer.send([rec('state', `k${i % 4}`, `v${i}`)]);
      await producer.send([rec('state', 'k0', null)]);
      const report = await transport.runMaintenance();
      expect(report.recordsCompactedAway).toBeGreaterThan(0);

      const consumer = transport.consumer({ group: 'g', topics: ['state'] });
      const records = await drain(consumer, 1000, 300);
      const latest = new Map(records.map((r) => [r.key?.toString(), r.value?.toString() ?? null]));
      expect(Object.fromEntries(latest)).toEqual({ k0: null, k1: 'v37', k2: 'v38', k3: 'v39' });
      expect(records.length).toBeLessThan(41);
      expect(records.at(-1)?.offset).toBe(40);
    });

    it('applies retention and moves a group whose committed offset was deleted to the start', async () => {
      const transport = await open({ segmentBytes: 500 });
      await transport.ensureTopic('logs', { partitions: 1, retentionBytes: 1000 });
      const producer = transport.producer();
      for (let i = 0; i < 60; i++) await producer.send([rec('logs', null, `line ${i}`.padEnd(30))]);
      const consumer = transport.consumer({ group: 'g', topics: ['logs'] });
      await consumer.commit([{ topic: 'logs', partition: 0, offset: 1 }]);
      const report = await transport.runMaintenance();
      expect(report.segmentsDeleted).toBeGreaterThan(0);
      const [start] = (await transport.startOffsets('logs')) ?? [];
      expect(start).toBeGreaterThan(1);
      expect(await consumer.lag()).toBe(60 - start!);
      const records = await drain(consumer, 60 - start!);
      expect(records[0]?.offset).toBe(start);
      expect(records.at(-1)?.offset).toBe(59);
    });
  });

  it('reports no recovery after a clean shutdown', async () => {
    const transport = await open();
    await transport.ensureTopic('t', { partitions: 1 });
    await transport.producer().send([rec('t', 'k', 'v')]);
    await close(transport);
    expect((await open()).recoveries).toEqual([]);
  });
});
