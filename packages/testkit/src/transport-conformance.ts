import { describe, expect, it } from 'vitest';
import {
  partitionForKey,
  readToEnd,
  type ConsumedRecord,
  type Consumer,
  type ProduceRecord,
  type TopicPartitionOffset,
  type Transport,
} from '@datamesh/core';

export interface TransportConformanceOptions {
  /** How long to wait for records to arrive (a Kafka group's first rebalance takes seconds). Default 10 s. */
  readonly timeoutMs?: number;
  /** The transport offers transactionalProducer(): run the transaction checks too. */
  readonly transactions?: boolean;
}

/**
 * The behaviour every transport owes the runtime. `open` returns a new connection to the same storage each
 * time (the same directory, the same cluster); each test uses its own topics and groups and closes what it
 * opened, so one transport instance is open at a time.
 */
export function describeTransportConformance(
  name: string,
  open: () => Promise<Transport>,
  options: TransportConformanceOptions = {},
): void {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const testTimeout = timeoutMs * 4;

  async function withTransport<T>(run: (transport: Transport) => Promise<T>): Promise<T> {
    const transport = await open();
    try {
      return await run(transport);
    } finally {
      await transport.close();
    }
  }

  describe(`transport conformance: ${name}`, () => {
    it(
      'creates, lists and describes topics; ensureTopic is idempotent',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const topic = uniqueName('topics');
          await transport.ensureTopic(topic, { partitions: 3 });
          await transport.ensureTopic(topic, { partitions: 3 });
          expect(await transport.listTopics()).toContain(topic);
          const described = await transport.describeTopic(topic);
          expect(described?.partitions).toBe(3);
          expect(described?.endOffsets).toEqual([0, 0, 0]);
          expect(await transport.describeTopic(uniqueName('missing'))).toBeUndefined();
        });
      },
    );

    it(
      'numbers each partition from 0 and places keys like Kafka’s default partitioner',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const topic = uniqueName('offsets');
          await transport.ensureTopic(topic, { partitions: 4 });
          const producer = transport.producer();
          const records = Array.from({ length: 40 }, (_, i) => keyed(topic, `key-${i % 9}`, `v${i}`));
          const sent = await producer.send(records);
          const explicit = await producer.send([{ ...keyed(topic, 'key-0', 'pinned'), partition: 3 }]);
          await producer.close();

          const perPartition = new Map<number, number[]>();
          sent.forEach((meta, i) => {
            expect(meta.topic).toBe(topic);
            expect(meta.partition).toBe(partitionForKey(records[i]!.key!, 4));
            perPartition.set(meta.partition, [...(perPartition.get(meta.partition) ?? []), meta.offset]);
          });
          for (const offsets of perPartition.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
          expect(explicit[0]?.partition).toBe(3);
          expect(explicit[0]?.offset).toBe(perPartition.get(3)?.length ?? 0);

          const described = await transport.describeTopic(topic);
          const expected = [0, 1, 2, 3].map((p) => (perPartition.get(p)?.length ?? 0) + (p === 3 ? 1 : 0));
          expect(described?.endOffsets).toEqual(expected);
        });
      },
    );

    it('delivers records in order per key and per partition', { timeout: testTimeout }, async () => {
      await withTransport(async (transport) => {
        const topic = uniqueName('ordering');
        await transport.ensureTopic(topic, { partitions: 3 });
        const producer = transport.producer();
        const keys = ['a', 'b', 'c', 'd', 'e'];
        let seq = 0;
        for (let batch = 0; batch < 10; batch++) {
          await producer.send(
            Array.from({ length: 20 }, () => keyed(topic, keys[seq % keys.length]!, String(seq++))),
          );
        }
        await producer.close();

        const consumer = transport.consumer({ group: uniqueName('ordering-group'), topics: [topic] });
        const records = await drain(consumer, seq, timeoutMs);
        await consumer.close();

        expect(records).toHaveLength(seq);
        const lastSeqPerKey = new Map<string, number>();
        const lastOffsetPerPartition = new Map<number, number>();
        for (const r of records) {
          const key = r.key!.toString();
          const value = Number(r.value!.toString());
          expect(value).toBeGreaterThan(lastSeqPerKey.get(key) ?? -1);
          lastSeqPerKey.set(key, value);
          expect(r.offset).toBeGreaterThan(lastOffsetPerPartition.get(r.partition) ?? -1);
          lastOffsetPerPartition.set(r.partition, r.offset);
          expect(r.partition).toBe(partitionForKey(r.key!, 3));
        }
      });
    });

    it(
      'round-trips headers, timestamps, null keys, tombstones and empty buffers',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const topic = uniqueName('shapes');
          await transport.ensureTopic(topic, { partitions: 1 });
          const producer = transport.producer();
          await producer.send([
            { topic, key: null, value: Buffer.from('no key') },
            { topic, key: Buffer.from('gone'), value: null },
            { topic, key: Buffer.alloc(0), value: Buffer.alloc(0) },
            {
              topic,
              key: Buffer.from([0, 255, 1]),
              value: Buffer.from('with headers'),
              headers: { 'content-type': 'avro', 'trace-ü': '∂ƒ', empty: '' },
              timestamp: 1_700_000_000_123,
            },
          ]);
          await producer.close();

          const consumer = transport.consumer({ group: uniqueName('shapes-group'), topics: [topic] });
          const [noKey, tombstone, empty, withHeaders] = await drain(consumer, 4, timeoutMs);
          await consumer.close();

          expect(noKey?.key).toBeNull();
          expect(noKey?.value?.toString()).toBe('no key');
          expect(tombstone?.key?.toString()).toBe('gone');
          expect(tombstone?.value).toBeNull();
          expect(empty?.key).not.toBeNull();
          expect(empty?.key?.length).toBe(0);
          expect(empty?.value).not.toBeNull();
          expect(empty?.value?.length).toBe(0);
          expect(empty?.headers).toEqual({});
          expect([...withHeaders!.key!]).toEqual([0, 255, 1]);
          expect(withHeaders?.headers).toEqual({ 'content-type': 'avro', 'trace-ü': '∂ƒ', empty: '' });
          expect(withHeaders?.timestamp).toBe(1_700_000_000_123);
          expect(typeof noKey?.timestamp).toBe('number');
        });
      },
    );

    it('keeps every acknowledged record across close and reopen', { timeout: testTimeout }, async () => {
      const topic = uniqueName('durable');
      const sent = await withTransport(async (transport) => {
        await transport.ensureTopic(topic, { partitions: 2 });
        const producer = transport.producer();
        const metadata = await producer.send(
          Array.from({ length: 100 }, (_, i) => keyed(topic, `k${i}`, `value-${i}`)),
        );
        await producer.close();
        return metadata;
      });
      await withTransport(async (transport) => {
        expect(await transport.listTopics()).toContain(topic);
        const described = await transport.describeTopic(topic);
        expect(described?.endOffsets.reduce((a, b) => a + b, 0)).toBe(100);
        const consumer = transport.consumer({ group: uniqueName('durable-group'), topics: [topic] });
        const records = await drain(consumer, 100, timeoutMs);
        await consumer.close();
        const byPosition = new Map(records.map((r) => [`${r.partition}/${r.offset}`, r.value?.toString()]));
        sent.forEach((meta, i) =>
          expect(byPosition.get(`${meta.partition}/${meta.offset}`)).toBe(`value-${i}`),
        );
      });
    });

    it(
      'resumes a group from its committed offsets, also after reopening',
      { timeout: testTimeout },
      async () => {
        const topic = uniqueName('resume');
        const group = uniqueName('resume-group');
        const firstPart = await withTransport(async (transport) => {
          await transport.ensureTopic(topic, { partitions: 2 });
          const producer = transport.producer();
          await producer.send(Array.from({ length: 50 }, (_, i) => keyed(topic, `k${i}`, String(i))));
          await producer.close();

          const consumer = transport.consumer({ group, topics: [topic] });
          const consumed = await drain(consumer, 20, timeoutMs, 20);
          const offsets = nextOffsets(consumed);
          await consumer.commit(offsets);
          expect(sortOffsets(await consumer.committed())).toEqual(sortOffsets(offsets));
          await consumer.close();
          return consumed;
        });
        await withTransport(async (transport) => {
          const consumer = transport.consumer({ group, topics: [topic] });
          const rest = await drain(consumer, 50 - firstPart.length, timeoutMs);
          expect(await pollMore(consumer)).toEqual([]);
          await consumer.close();
          const seen = [...firstPart, ...rest].map((r) => Number(r.value!.toString())).sort((a, b) => a - b);
          expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
        });
      },
    );

    it('reports lag as end offset minus committed offset', { timeout: testTimeout }, async () => {
      await withTransport(async (transport) => {
        const topic = uniqueName('lag');
        await transport.ensureTopic(topic, { partitions: 2 });
        const producer = transport.producer();
        await producer.send([
          ...Array.from({ length: 15 }, (_, i) => ({ ...keyed(topic, `a${i}`, 'x'), partition: 0 })),
          ...Array.from({ length: 25 }, (_, i) => ({ ...keyed(topic, `b${i}`, 'x'), partition: 1 })),
        ]);
        await producer.close();

        const consumer = transport.consumer({ group: uniqueName('lag-group'), topics: [topic] });
        await drain(consumer, 40, timeoutMs);
        await consumer.commit([
          { topic, partition: 0, offset: 10 },
          { topic, partition: 1, offset: 5 },
        ]);
        expect(await consumer.lag()).toBe(5 + 20);
        await consumer.commit([
          { topic, partition: 0, offset: 15 },
          { topic, partition: 1, offset: 25 },
        ]);
        expect(await consumer.lag()).toBe(0);
        await consumer.close();
      });
    });

    it(
      'splits partitions between the members of a group; a member leaving hands its partitions over',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const topic = uniqueName('members');
          const group = uniqueName('members-group');
          await transport.ensureTopic(topic, { partitions: 4 });
          const producer = transport.producer();
          const wave = (n: number) =>
            producer.send(
              [0, 1, 2, 3].flatMap((partition) =>
                Array.from({ length: 10 }, (_, i) => ({
                  ...keyed(topic, `p${partition}-${i}`, `w${n}`),
                  partition,
                })),
              ),
            );
          const a = transport.consumer({ group, topics: [topic] });
          const b = transport.consumer({ group, topics: [topic] });

          // Wave 1 settles the group (on Kafka the first rebalance may shuffle partitions mid-way).
          await wave(1);
          await drainGroup(
            [a, b],
            (records) => records.filter((r) => r.value?.toString() === 'w1').length >= 40,
            timeoutMs,
          );

          await wave(2);
          const second = await drainGroup([a, b], (records) => records.length >= 40, timeoutMs);
          const partitionsOf = (records: readonly ConsumedRecord[]) =>
            new Set(records.map((r) => r.partition));
          const ofA = partitionsOf(second.get(a) ?? []);
          const ofB = partitionsOf(second.get(b) ?? []);
          expect(ofA.size).toBeGreaterThan(0);
          expect(ofB.size).toBeGreaterThan(0);
          expect([...ofA].filter((p) => ofB.has(p))).toEqual([]);
          expect(new Set([...ofA, ...ofB]).size).toBe(4);

          // B reads part of wave 3 without committing, then leaves: A gets B's partitions from the committed offsets.
          await wave(3);
          const uncommittedByB = await drain(b, 1, timeoutMs, 5, false);
          await b.close();
          const third = await drainGroup(
            [a],
            (records) => records.filter((r) => r.value?.toString() === 'w3').length >= 40,
            timeoutMs,
          );
          const wave3 = (third.get(a) ?? []).filter((r) => r.value?.toString() === 'w3');
          expect(new Set(wave3.map((r) => r.partition)).size).toBe(4);
          const positions = new Set(wave3.map((r) => `${r.partition}/${r.offset}`));
          for (const r of uncommittedByB) expect(positions.has(`${r.partition}/${r.offset}`)).toBe(true);
          await a.close();
          await producer.close();
        });
      },
    );

    it(
      'gives every partition of an exclusive group to one member; another takes over when it leaves',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const topic = uniqueName('exclusive');
          const group = uniqueName('exclusive-group');
          await transport.ensureTopic(topic, { partitions: 3 });
          const producer = transport.producer();
          const wave = (n: number) =>
            producer.send(Array.from({ length: 30 }, (_, i) => keyed(topic, `k${i}`, `w${n}`)));
          const a = transport.consumer({ group, topics: [topic], exclusive: true });
          const b = transport.consumer({ group, topics: [topic], exclusive: true });

          await wave(1);
          const first = await drainGroup([a, b], (records) => records.length >= 30, timeoutMs);
          const holder = (first.get(a) ?? []).length > 0 ? a : b;
          const other = holder === a ? b : a;
          expect(first.get(other)).toEqual([]);
          expect(holder.assignment()).toHaveLength(3);
          expect(other.assignment()).toEqual([]);
          await holder.commit(nextOffsets(first.get(holder)!));

          // The holder reads part of wave 2 without committing, then leaves: the other member takes every
          // partition over, from the committed offsets.
          await wave(2);
          const uncommitted = await drain(holder, 1, timeoutMs, 10, false);
          await holder.close();
          const second = await drainGroup([other], (records) => records.length >= 30, timeoutMs);
          const taken = second.get(other)!;
          expect(taken.map((r) => r.value?.toString())).toEqual(Array.from({ length: 30 }, () => 'w2'));
          expect(other.assignment()).toHaveLength(3);
          const positions = new Set(taken.map((r) => `${r.partition}/${r.offset}`));
          for (const r of uncommitted) expect(positions.has(`${r.partition}/${r.offset}`)).toBe(true);
          await other.close();
          await producer.close();
        });
      },
    );

    it(
      'gives a co-partitioned group whole partition numbers: partition p of every topic to one member',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const wide = uniqueName('copartitioned-wide');
          const narrow = uniqueName('copartitioned-narrow');
          const group = uniqueName('copartitioned-group');
          await transport.ensureTopic(wide, { partitions: 4 });
          await transport.ensureTopic(narrow, { partitions: 2 });
          const producer = transport.producer();
          const wave = () =>
            producer.send([
              ...[0, 1, 2, 3].map((partition) => ({ ...keyed(wide, `w${partition}`, 'x'), partition })),
              ...[0, 1].map((partition) => ({ ...keyed(narrow, `n${partition}`, 'x'), partition })),
            ]);
          const a = transport.consumer({ group, topics: [wide, narrow], copartitioned: true });
          const b = transport.consumer({ group, topics: [wide, narrow], copartitioned: true });
          await wave();
          const read = await drainGroup([a, b], (records) => records.length >= 6, timeoutMs);
          // Which member read each partition number, of either topic: one member per number.
          const holderOf = new Map<number, Set<Consumer>>();
          for (const member of [a, b]) {
            for (const r of read.get(member) ?? []) {
              const holders = holderOf.get(r.partition) ?? new Set<Consumer>();
              holders.add(member);
              holderOf.set(r.partition, holders);
            }
          }
          expect([...holderOf.keys()].sort()).toEqual([0, 1, 2, 3]);
          for (const holders of holderOf.values()) expect(holders.size).toBe(1);
          expect(a.assignment().length).toBeGreaterThan(0);
          expect(b.assignment().length).toBeGreaterThan(0);
          for (const member of [a, b]) {
            const numbers = (topic: string) =>
              member
                .assignment()
                .filter((tp) => tp.topic === topic)
                .map((tp) => tp.partition)
                .sort();
            expect(numbers(narrow)).toEqual(numbers(wide).filter((p) => p < 2));
          }
          await a.commit(nextOffsets(read.get(a) ?? []));
          await b.commit(nextOffsets(read.get(b) ?? []));

          // A third member joins: it takes one number, and the others keep the rest of theirs.
          const numbersOf = (member: Consumer) => new Set(member.assignment().map((tp) => tp.partition));
          const before = [numbersOf(a), numbersOf(b)];
          const c = transport.consumer({ group, topics: [wide, narrow], copartitioned: true });
          const deadline = Date.now() + timeoutMs;
          const settledIn = () => {
            const sets = [numbersOf(a), numbersOf(b), numbersOf(c)];
            const all = sets.flatMap((set) => [...set]);
            return sets.every((set) => set.size > 0) && all.length === 4 && new Set(all).size === 4;
          };
          while (!settledIn()) {
            if (Date.now() > deadline) throw new Error('the group did not settle with three members');
            for (const member of [a, b, c]) await member.poll({ maxRecords: 100, maxWaitMs: 100 });
          }
          const kept = [a, b].reduce(
            (sum, member, i) => sum + [...numbersOf(member)].filter((p) => before[i]!.has(p)).length,
            0,
          );
          expect(numbersOf(c).size).toBe(1);
          expect(kept).toBe(3);
          await c.close();

          // One member left: the other holds every partition number.
          await b.close();
          await wave();
          const alone = await drainGroup([a], (records) => records.length >= 6, timeoutMs);
          expect(new Set((alone.get(a) ?? []).map((r) => `${r.topic}/${r.partition}`)).size).toBe(6);
          await a.close();
          await producer.close();
        });
      },
    );

    it(
      'waits in poll up to maxWaitMs and wakes when a record arrives',
      { timeout: testTimeout },
      async () => {
        await withTransport(async (transport) => {
          const topic = uniqueName('wait');
          await transport.ensureTopic(topic, { partitions: 1 });
          const consumer = transport.consumer({ group: uniqueName('wait-group'), topics: [topic] });
          const started = Date.now();
          expect(await consumer.poll({ maxRecords: 10, maxWaitMs: 200 })).toEqual([]);
          expect(Date.now() - started).toBeGreaterThanOrEqual(150);

          const producer = transport.producer();
          const waiting = drain(consumer, 1, timeoutMs);
          setTimeout(() => void producer.send([keyed(topic, 'k', 'late')]), 100);
          const [record] = await waiting;
          expect(record?.value?.toString()).toBe('late');
          await producer.close();
          await consumer.close();
        });
      },
    );

    it('ends a waiting poll when its signal aborts', { timeout: testTimeout }, async () => {
      await withTransport(async (transport) => {
        const topic = uniqueName('abort');
        await transport.ensureTopic(topic, { partitions: 1 });
        const consumer = transport.consumer({ group: uniqueName('abort-group'), topics: [topic] });
        const abort = new AbortController();
        const started = Date.now();
        setTimeout(() => abort.abort(), 100);
        const records = await consumer.poll({ maxRecords: 10, maxWaitMs: 30_000, signal: abort.signal });
        expect(records).toEqual([]);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(await consumer.poll({ maxRecords: 10, maxWaitMs: 30_000, signal: abort.signal })).toEqual([]);
        await consumer.close();
      });
    });

    if (options.transactions) describeTransactions(withTransport, timeoutMs, testTimeout);

    it('starts a new group at the end when fromBeginning is false', { timeout: testTimeout }, async () => {
      await withTransport(async (transport) => {
        const topic = uniqueName('latest');
        await transport.ensureTopic(topic, { partitions: 1 });
        const producer = transport.producer();
        await producer.send([keyed(topic, 'k', 'old-1'), keyed(topic, 'k', 'old-2')]);
        const consumer = transport.consumer({
          group: uniqueName('latest-group'),
          topics: [topic],
          fromBeginning: false,
        });
        expect(await consumer.poll({ maxRecords: 10, maxWaitMs: 100 })).toEqual([]);
        await producer.send([keyed(topic, 'k', 'new')]);
        const records = await drain(consumer, 1, timeoutMs);
        expect(records.map((r) => r.value?.toString())).toEqual(['new']);
        await producer.close();
        await consumer.close();
      });
    });
  });
}

function describeTransactions(
  withTransport: <T>(run: (transport: Transport) => Promise<T>) => Promise<T>,
  timeoutMs: number,
  testTimeout: number,
): void {
  const transactional = (transport: Transport, id: string) => {
    if (!transport.transactionalProducer)
      throw new Error(`transport ${transport.kind} offers no transactions`);
    return transport.transactionalProducer(id);
  };

  it(
    'shows a committed transaction whole and nothing of an aborted one',
    { timeout: testTimeout },
    async () => {
      await withTransport(async (transport) => {
        const events = uniqueName('tx-events');
        const positions = uniqueName('tx-positions');
        await transport.ensureTopic(events, { partitions: 3 });
        await transport.ensureTopic(positions, { partitions: 1, compacted: true });
        const producer = transactional(transport, uniqueName('tx'));

        const aborted = await producer.begin();
        await aborted.send(Array.from({ length: 30 }, (_, i) => keyed(events, `k${i}`, `aborted-${i}`)));
        await aborted.send([keyed(positions, 'source', 'position-aborted')]);
        await aborted.abort();

        const committed = await producer.begin();
        await committed.send(Array.from({ length: 30 }, (_, i) => keyed(events, `k${i}`, `committed-${i}`)));
        await committed.send([keyed(positions, 'source', 'position-committed')]);
        await committed.commit();
        await producer.close();

        const consumer = transport.consumer({ group: uniqueName('tx-group'), topics: [events, positions] });
        const records = await drain(consumer, 31, timeoutMs);
        expect(await pollMore(consumer)).toEqual([]);
        await consumer.close();
        const values = records.map((r) => r.value!.toString());
        expect(values.filter((v) => v.startsWith('aborted'))).toEqual([]);
        expect(values.filter((v) => v.startsWith('committed-')).sort()).toEqual(
          Array.from({ length: 30 }, (_, i) => `committed-${i}`).sort(),
        );
        expect(values).toContain('position-committed');
        expect(values).not.toContain('position-aborted');
      });
    },
  );

  it(
    'lets readToEnd stop at a transactional topic’s end, which is a commit marker, without an idle wait',
    { timeout: testTimeout },
    async () => {
      await withTransport(async (transport) => {
        const topic = uniqueName('tx-read-to-end');
        await transport.ensureTopic(topic, { partitions: 2, compacted: true });
        const producer = transactional(transport, uniqueName('tx-positions'));
        for (let i = 0; i < 5; i++) {
          const tx = await producer.begin();
          await tx.send([keyed(topic, `task-${i % 3}`, `position-${i}`)]);
          await tx.commit();
        }
        await producer.close();
        const read: ConsumedRecord[] = [];
        // An idle wait this long would outlast the test: only knowing where the end is can finish in time.
        for await (const batch of readToEnd(transport, topic, { idleMs: testTimeout * 2 }))
          read.push(...batch);
        expect(read.map((r) => r.value!.toString()).sort()).toEqual(
          Array.from({ length: 5 }, (_, i) => `position-${i}`).sort(),
        );
      });
    },
  );

  it(
    'commits consumed offsets with the transaction: exactly once from topic to topic',
    { timeout: testTimeout },
    async () => {
      await withTransport(async (transport) => {
        const input = uniqueName('tx-in');
        const output = uniqueName('tx-out');
        const group = uniqueName('tx-copy');
        await transport.ensureTopic(input, { partitions: 1 });
        await transport.ensureTopic(output, { partitions: 1 });
        const plain = transport.producer();
        await plain.send(Array.from({ length: 10 }, (_, i) => keyed(input, `k${i}`, String(i))));
        await plain.close();

        const consumer = transport.consumer({ group, topics: [input] });
        const batch = await drain(consumer, 10, timeoutMs);
        const producer = transactional(transport, uniqueName('tx-copy'));
        const abandoned = await producer.begin();
        await abandoned.send(batch.map((r) => ({ topic: output, key: r.key, value: r.value })));
        await abandoned.sendOffsets(group, nextOffsets(batch));
        await abandoned.abort();
        expect(await consumer.committed()).toEqual([]);

        const copy = await producer.begin();
        await copy.send(batch.map((r) => ({ topic: output, key: r.key, value: r.value })));
        await copy.sendOffsets(group, nextOffsets(batch));
        await copy.commit();
        await producer.close();
        // Kafka answers the commit once it is decided; the offsets become readable once its markers are written
        // a moment later (kafkajs cannot ask for stable offsets, KIP-447's OffsetFetch v7).
        expect(await committedOnceSettled(consumer, 1)).toEqual([{ topic: input, partition: 0, offset: 10 }]);
        await consumer.close();

        const reader = transport.consumer({ group: uniqueName('tx-reader'), topics: [output] });
        const copied = await drain(reader, 10, timeoutMs);
        expect(await pollMore(reader)).toEqual([]);
        await reader.close();
        expect(copied.map((r) => r.value!.toString())).toEqual(batch.map((r) => r.value!.toString()));
      });
    },
  );

  it(
    'fences an older producer with the same transactional id and aborts what it left open',
    { timeout: testTimeout },
    async () => {
      await withTransport(async (transport) => {
        const topic = uniqueName('tx-fence');
        const id = uniqueName('tx-fenced');
        await transport.ensureTopic(topic, { partitions: 1 });
        const first = transactional(transport, id);
        const open = await first.begin();
        await open.send([keyed(topic, 'k', 'left-open')]);

        const second = transactional(transport, id);
        await second.init();
        // init alone settled the first producer's open transaction: a reader reaches the topic's end without
        // waiting on it (an idle wait this long would outlast the test), and finds nothing of it.
        const settled: ConsumedRecord[] = [];
        for await (const batch of readToEnd(transport, topic, { idleMs: testTimeout * 2 }))
          settled.push(...batch);
        expect(settled).toEqual([]);
        const tx = await second.begin();
        await tx.send([keyed(topic, 'k', 'from-second')]);
        await tx.commit();
        await expect(open.commit()).rejects.toThrow();
        await first.close().catch(() => undefined);
        await second.close();

        const consumer = transport.consumer({ group: uniqueName('tx-fence-group'), topics: [topic] });
        const records = await drain(consumer, 1, timeoutMs);
        expect(await pollMore(consumer)).toEqual([]);
        await consumer.close();
        expect(records.map((r) => r.value!.toString())).toEqual(['from-second']);
      });
    },
  );
}

function uniqueName(what: string): string {
  return `conformance-${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function keyed(topic: string, key: string, value: string): ProduceRecord {
  return { topic, key: Buffer.from(key), value: Buffer.from(value) };
}

/** Polls until `count` records arrived (batches of `maxRecords`), failing after `timeoutMs`. */
async function drain(
  consumer: Consumer,
  count: number,
  timeoutMs: number,
  maxRecords = 100,
  exact = true,
): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    if (Date.now() > deadline) throw new Error(`timed out with ${out.length} of ${count} records`);
    out.push(
      ...(await consumer.poll({
        maxRecords: Math.min(maxRecords, exact ? count - out.length : maxRecords),
        maxWaitMs: 250,
      })),
    );
  }
  return out;
}

/** Polls every consumer in turn, committing what each got, until `done` holds for all records seen. */
async function drainGroup(
  consumers: readonly Consumer[],
  done: (records: readonly ConsumedRecord[]) => boolean,
  timeoutMs: number,
): Promise<Map<Consumer, ConsumedRecord[]>> {
  const seen = new Map<Consumer, ConsumedRecord[]>(consumers.map((c) => [c, []]));
  const deadline = Date.now() + timeoutMs;
  while (!done([...seen.values()].flat())) {
    if (Date.now() > deadline) throw new Error(`timed out with ${[...seen.values()].flat().length} records`);
    for (const consumer of consumers) {
      const records = await consumer.poll({ maxRecords: 100, maxWaitMs: 100 });
      if (records.length === 0) continue;
      seen.get(consumer)!.push(...records);
      await consumer.commit(nextOffsets(records));
    }
  }
  return seen;
}

/** The group's committed offsets once `count` partitions have one, or what there is after five seconds. */
async function committedOnceSettled(consumer: Consumer, count: number): Promise<TopicPartitionOffset[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const committed = await consumer.committed();
    if (committed.length >= count || Date.now() > deadline) return committed;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function pollMore(consumer: Consumer): Promise<ConsumedRecord[]> {
  return consumer.poll({ maxRecords: 100, maxWaitMs: 300 });
}

function nextOffsets(records: readonly ConsumedRecord[]): TopicPartitionOffset[] {
  const next = new Map<string, TopicPartitionOffset>();
  for (const r of records) {
    const key = `${r.topic}\u0000${r.partition}`;
    const current = next.get(key);
    if (current === undefined || current.offset <= r.offset)
      next.set(key, { topic: r.topic, partition: r.partition, offset: r.offset + 1 });
  }
  return [...next.values()];
}

function sortOffsets(offsets: readonly TopicPartitionOffset[]): TopicPartitionOffset[] {
  return [...offsets].sort((x, y) => x.topic.localeCompare(y.topic) || x.partition - y.partition);
}
