import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SinkRecord } from '../contract/plugin.js';
import { METRIC } from '../metrics/standard-metrics.js';
import { EmbeddedTransport } from '../transport/embedded/index.js';
import type { ConsumedRecord, Transport } from '../transport/transport.js';
import { DEAD_LETTER_HEADER, deadLetterTopic, replayRecord, replayTopic } from './dead-letters.js';
import {
  counterOf,
  idleSource,
  readStoppedTopic,
  readTopic,
  rejectingSink,
  startNode,
  switches,
  tracedSource,
  validateProcessor,
} from './__fixtures__/dead-letter-plugins.js';
import { metricValue, until } from './__fixtures__/test-node.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-dead-letters-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const numbers = (records: readonly SinkRecord[]) => records.map((r) => counterOf(r.event));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sorted = (ns: readonly number[]) => [...ns].sort((a, b) => a - b);
const at = (r: { topic: string; partition: number; offset: number }) =>
  `${r.topic}/${r.partition}@${r.offset}`;

/** The dead letters of a pipeline, once there are `count` of them. */
async function deadLetters(transport: Transport, pipeline: string, count: number): Promise<ConsumedRecord[]> {
  let letters: ConsumedRecord[] = [];
  await until(async () => {
    letters = await readTopic(transport, deadLetterTopic(pipeline));
    return letters.length >= count;
  }, 15_000);
  return letters;
}

async function replay(transport: Transport, pipeline: string, letters: readonly ConsumedRecord[]) {
  const producer = transport.producer();
  try {
    await producer.send(letters.map((l) => replayRecord(pipeline, l)));
  } finally {
    await producer.close();
  }
}

/** Per key (`id`), the counters in the order the sink got them. */
function perKey(records: readonly SinkRecord[]): Map<unknown, number[]> {
  const keys = new Map<unknown, number[]>();
  for (const r of records)
    keys.set(r.event.key?.['id'], [...(keys.get(r.event.key?.['id']) ?? []), counterOf(r.event)]);
  return keys;
}

describe('dead letters', () => {
  it('sends the events a processor fails on to the dead-letter topic, with their bytes, headers and why; the rest flows on in order', async () => {
    const state = switches({ invalid: (n) => n % 10 === 0 });
    const sink = rejectingSink({ name: 'collect' });
    const { node, transport } = await startNode({
      dir,
      plugins: [tracedSource(), validateProcessor(state), sink.plugin],
      pipelines: [
        {
          name: 'pay',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 200 } }],
          processors: [{ name: 'check', plugin: 'validate', inputs: ['src'] }],
          sinks: [{ name: 'out', plugin: 'collect', inputs: ['check'] }],
        },
      ],
    });
    try {
      await until(() => sink.flushed.length >= 180, 15_000);
      const letters = await deadLetters(transport, 'pay', 20);
      const originals = new Map((await readTopic(transport, 'src.counters')).map((r) => [at(r), r]));

      expect(letters).toHaveLength(20);
      const failed: number[] = [];
      for (const letter of letters) {
        const h = letter.headers;
        const origin = originals.get(
          `${h[DEAD_LETTER_HEADER.topic]}/${h[DEAD_LETTER_HEADER.partition]}@${h[DEAD_LETTER_HEADER.offset]}`,
        );
        expect(origin, `origin of ${JSON.stringify(h)}`).toBeDefined();
        // The bytes as they were read, so a replay decodes them as the first time.
        expect(letter.key).toEqual(origin!.key);
        expect(letter.value).toEqual(origin!.value);
        const n = Number(/^n-(\d+)$/.exec(h['trace']!)![1]);
        failed.push(n);
        expect(origin!.headers).toEqual({ trace: `n-${n}` });
        expect(h).toMatchObject({
          trace: `n-${n}`,
          [DEAD_LETTER_HEADER.error]: `amount ${n} is not valid`,
          [DEAD_LETTER_HEADER.errorName]: 'Error',
          [DEAD_LETTER_HEADER.stage]: 'check',
          [DEAD_LETTER_HEADER.plugin]: 'validate',
          [DEAD_LETTER_HEADER.kind]: 'processor',
          [DEAD_LETTER_HEADER.task]: 'pay.out',
          [DEAD_LETTER_HEADER.topic]: 'src.counters',
          [DEAD_LETTER_HEADER.replays]: '0',
        });
        expect(Date.parse(h[DEAD_LETTER_HEADER.time]!)).toBeGreaterThan(Date.now() - 60_000);
      }
      expect(sorted(failed)).toEqual(range(1, 20).map((i) => i * 10));

      expect(await metricValue(node, METRIC.deadLetters, { pipeline: 'pay', stage: 'check' })).toBe(20);
      expect(await metricValue(node, METRIC.deadLetters, { pipeline: 'pay', stage: 'out' })).toBe(0);
      expect(await metricValue(node, METRIC.errors, { pipeline: 'pay', stage: 'check' })).toBe(20);
    } finally {
      await node.stop();
    }
    expect(sorted(numbers(sink.flushed))).toEqual(range(1, 200).filter((n) => n % 10 !== 0));
    for (const ns of perKey(sink.flushed).values()) expect(ns).toEqual(sorted(ns));
  });

  it('sends what a sink rejects in write and in flush, commits past them, and after a restart neither re-sends nor re-delivers', async () => {
    const sink = rejectingSink({ inWrite: (n) => n % 10 === 3, inFlush: (n) => n % 10 === 7 });
    const start = () =>
      startNode({
        dir,
        plugins: [tracedSource(), sink.plugin],
        pipelines: [
          {
            name: 'rej',
            sources: [{ name: 'src', plugin: 'counting', config: { total: 200 } }],
            sinks: [{ name: 'out', plugin: 'reject', inputs: ['src'] }],
          },
        ],
      });
    const accepted = range(1, 200).filter((n) => n % 10 !== 3 && n % 10 !== 7);

    const first = await start();
    try {
      await until(() => sink.flushed.length >= accepted.length, 15_000);
      const letters = await deadLetters(first.transport, 'rej', 40);
      const byError = letters.map((l) => l.headers[DEAD_LETTER_HEADER.error]!);
      expect(sorted(letters.map((l) => Number(l.headers['trace']!.slice(2))))).toEqual(
        range(1, 200).filter((n) => n % 10 === 3 || n % 10 === 7),
      );
      for (const letter of letters) {
        const n = Number(letter.headers['trace']!.slice(2));
        expect(letter.headers).toMatchObject({
          [DEAD_LETTER_HEADER.error]: n % 10 === 3 ? `mapping refused ${n}` : `bulk item ${n} failed`,
          [DEAD_LETTER_HEADER.stage]: 'out',
          [DEAD_LETTER_HEADER.plugin]: 'reject',
          [DEAD_LETTER_HEADER.kind]: 'sink',
          [DEAD_LETTER_HEADER.task]: 'rej.out',
          [DEAD_LETTER_HEADER.topic]: 'src.counters',
          [DEAD_LETTER_HEADER.replays]: '0',
        });
      }
      expect(byError.filter((e) => e.startsWith('bulk item'))).toHaveLength(20);
      expect(await metricValue(first.node, METRIC.deadLetters, { pipeline: 'rej', stage: 'out' })).toBe(40);
      expect(await metricValue(first.node, METRIC.eventsOut, { pipeline: 'rej', stage: 'out' })).toBe(
        accepted.length,
      );
    } finally {
      await first.node.stop();
    }

    // Everything read was committed, dead letters included.
    const log = await EmbeddedTransport.open({ dir: join(dir, 'log'), readOnly: true });
    try {
      const ends = (await log.describeTopic('src.counters'))!.endOffsets;
      const consumer = log.consumer({ group: 'datamesh.rej.out', topics: ['src.counters'] });
      const committed = await consumer.committed();
      await consumer.close();
      expect(
        ends.map(
          (end, partition) =>
            committed.find((c) => c.topic === 'src.counters' && c.partition === partition)?.offset ?? 0,
        ),
      ).toEqual(ends);
    } finally {
      await log.close();
    }

    const second = await start();
    try {
      await until(() => second.node.health().every((t) => t.state === 'running'));
      await new Promise((r) => setTimeout(r, 500));
      expect(await metricValue(second.node, METRIC.deadLetters, { pipeline: 'rej', stage: 'out' })).toBe(0);
    } finally {
      await second.node.stop();
    }
    expect(await readStoppedTopic(dir, deadLetterTopic('rej'))).toHaveLength(40);
    expect(numbers(sink.flushed)).toHaveLength(accepted.length);
    expect(sorted(numbers(sink.flushed))).toEqual(accepted);
  });

  it('restarts the task on a TransientError (also one of another copy of core) instead of dead-lettering, and the event goes through once it stops failing', async () => {
    const state = switches({ transient: new Map([[25, 2]]) });
    const sink = rejectingSink({ name: 'collect' });
    const { node, transport } = await startNode({
      dir,
      plugins: [tracedSource(), validateProcessor(state), sink.plugin],
      pipelines: [
        {
          name: 'flaky',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 50 } }],
          processors: [{ name: 'check', plugin: 'validate', inputs: ['src'] }],
          sinks: [{ name: 'out', plugin: 'collect', inputs: ['check'] }],
        },
      ],
    });
    try {
      await until(() => sink.flushed.length >= 50, 15_000);
      expect(state.transient.get(25)).toBe(0);
      expect(await metricValue(node, METRIC.taskRestarts, { pipeline: 'flaky', stage: 'out' })).toBe(2);
      expect(await metricValue(node, METRIC.errors, { pipeline: 'flaky', stage: 'check' })).toBe(2);
      expect(await metricValue(node, METRIC.deadLetters, { pipeline: 'flaky' })).toBe(0);
      expect(await readTopic(transport, deadLetterTopic('flaky'))).toEqual([]);
      // Seen three times: twice failing, once going through.
      expect(state.seen.filter((n) => n === 25)).toHaveLength(3);
    } finally {
      await node.stop();
    }
    expect(numbers(sink.flushed)).toHaveLength(50);
    expect(sorted(numbers(sink.flushed))).toEqual(range(1, 50));
  });

  it('delivers replayed dead letters to the task that failed on them only, once; one that fails again counts a replay', async () => {
    const state = switches({ invalid: (n) => n % 10 === 0 });
    const checked = rejectingSink({ name: 'collect-a' });
    const audit = rejectingSink({ name: 'collect-b' });
    const other = rejectingSink({ name: 'collect-c' });
    const { node, transport } = await startNode({
      dir,
      plugins: [
        tracedSource(),
        idleSource,
        validateProcessor(state),
        checked.plugin,
        audit.plugin,
        other.plugin,
      ],
      pipelines: [
        {
          name: 'pay',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 100 } }],
          processors: [{ name: 'check', plugin: 'validate', inputs: ['src'] }],
          sinks: [
            { name: 'out', plugin: 'collect-a', inputs: ['check'] },
            // A second task of the same pipeline on the same input: it reads the replay topic too.
            { name: 'audit', plugin: 'collect-b', inputs: ['src'] },
          ],
        },
        {
          // Another pipeline consuming the same topic (src.counters): it has its own replay topic.
          name: 'other',
          sources: [{ name: 'src', plugin: 'idle' }],
          sinks: [{ name: 'copy', plugin: 'collect-c', inputs: ['src'] }],
        },
      ],
    });
    try {
      await until(
        () => checked.flushed.length >= 90 && audit.flushed.length >= 100 && other.flushed.length >= 100,
        15_000,
      );
      const first = await deadLetters(transport, 'pay', 10);
      expect(first).toHaveLength(10);

      // Replayed while the processor still fails: dead letters again, with the first origin and one replay.
      await replay(transport, 'pay', first);
      const again = (await deadLetters(transport, 'pay', 20)).slice(10);
      expect(again).toHaveLength(10);
      // The replay topic has the inputs' partitions: the second failures come in no set order, so each is found
      // by where it was first read.
      const origin = (letter: ConsumedRecord) =>
        `${letter.headers[DEAD_LETTER_HEADER.partition]}@${letter.headers[DEAD_LETTER_HEADER.offset]}`;
      const againByOrigin = new Map(again.map((letter) => [origin(letter), letter]));
      first.forEach((letter) => {
        const second = againByOrigin.get(origin(letter))!;
        const h = second.headers;
        expect(second.value).toEqual(letter.value);
        expect(h).toMatchObject({
          trace: letter.headers['trace'],
          [DEAD_LETTER_HEADER.task]: 'pay.out',
          [DEAD_LETTER_HEADER.stage]: 'check',
          [DEAD_LETTER_HEADER.topic]: 'src.counters',
          [DEAD_LETTER_HEADER.partition]: letter.headers[DEAD_LETTER_HEADER.partition],
          [DEAD_LETTER_HEADER.offset]: letter.headers[DEAD_LETTER_HEADER.offset],
          [DEAD_LETTER_HEADER.replays]: '1',
        });
      });

      // Fixed: the replay goes through.
      state.invalid = () => false;
      await replay(transport, 'pay', again);
      await until(() => checked.flushed.length >= 100, 15_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(await metricValue(node, METRIC.deadLetters, { pipeline: 'pay', stage: 'check' })).toBe(20);
      expect(await readTopic(transport, deadLetterTopic('pay'))).toHaveLength(20);
    } finally {
      await node.stop();
    }
    expect(sorted(numbers(checked.flushed))).toEqual(range(1, 100));
    const replayed = checked.flushed.filter((r) => r.position.topic === replayTopic('pay'));
    expect(sorted(numbers(replayed))).toEqual(range(1, 10).map((i) => i * 10));
    // Plugins see a replayed event with the headers it had, not the dead-letter bookkeeping.
    for (const r of replayed) expect(r.event.headers).toEqual({ trace: `n-${counterOf(r.event)}` });
    expect(sorted(numbers(audit.flushed))).toEqual(range(1, 100));
    expect(audit.flushed.every((r) => r.position.topic === 'src.counters')).toBe(true);
    expect(sorted(numbers(other.flushed))).toEqual(range(1, 100));
    expect(other.flushed.every((r) => r.position.topic === 'src.counters')).toBe(true);
  });

  it('replays a dead-lettered tombstone', async () => {
    const state = switches({ refuseTombstones: true });
    const sink = rejectingSink({ name: 'collect' });
    const { node, transport } = await startNode({
      dir,
      plugins: [tracedSource({ tombstoneAt: 12 }), validateProcessor(state), sink.plugin],
      pipelines: [
        {
          name: 'tomb',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 30 } }],
          processors: [{ name: 'check', plugin: 'validate', inputs: ['src'] }],
          sinks: [{ name: 'out', plugin: 'collect', inputs: ['check'] }],
        },
      ],
    });
    try {
      await until(() => sink.flushed.length >= 30, 15_000);
      const letters = await deadLetters(transport, 'tomb', 1);
      expect(letters).toHaveLength(1);
      expect(letters[0]!.value).toBeNull();
      expect(letters[0]!.headers[DEAD_LETTER_HEADER.error]).toBe('tombstone of key 5 refused');

      state.refuseTombstones = false;
      await replay(transport, 'tomb', letters);
      await until(() => sink.flushed.length >= 31, 15_000);
      expect(node.health().find((t) => t.id === 'tomb.out')).toMatchObject({ state: 'running', restarts: 0 });
    } finally {
      await node.stop();
    }
    const tombstone = sink.flushed.find((r) => r.event.value === null);
    expect(tombstone?.event.key).toEqual({ id: 5 });
    expect(tombstone?.position.topic).toBe(replayTopic('tomb'));
  });
  it('dead-letters bytes that do not decode, charged to the stage that would have received them, and goes on', async () => {
    const sink = rejectingSink({ name: 'collect' });
    const { node, transport } = await startNode({
      dir,
      plugins: [tracedSource(), validateProcessor(switches()), sink.plugin],
      pipelines: [
        {
          name: 'garbled',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 10 } }],
          processors: [{ name: 'check', plugin: 'validate', inputs: ['src'] }],
          sinks: [{ name: 'out', plugin: 'collect', inputs: ['check'] }],
        },
      ],
    });
    try {
      await until(() => sink.flushed.length >= 10, 15_000);
      const topic = (await transport.listTopics()).find((t) => t.startsWith('src.'))!;
      const [first] = await readTopic(transport, topic);
      const producer = transport.producer();
      await producer.send([
        {
          topic,
          key: first!.key,
          value: Buffer.from('not a Confluent wire-format record'),
          partition: first!.partition,
        },
        { topic, key: first!.key, value: Buffer.from([0, 0, 0, 0, 1, 0xff]), partition: first!.partition },
        { topic, key: first!.key, value: first!.value, partition: first!.partition },
      ]);
      await producer.close();
      const letters = await deadLetters(transport, 'garbled', 2);
      await until(() => sink.flushed.length >= 11, 15_000);
      expect(letters.map((l) => l.headers[DEAD_LETTER_HEADER.errorName])).toEqual([
        'WireFormatError',
        'WireFormatError',
      ]);
      expect(letters.map((l) => l.headers[DEAD_LETTER_HEADER.stage])).toEqual(['check', 'check']);
      expect(letters[0]!.headers[DEAD_LETTER_HEADER.error]).toMatch(/not a Confluent wire-format record/);
      expect(letters[1]!.headers[DEAD_LETTER_HEADER.error]).toMatch(/does not decode/);
      expect(node.health().find((t) => t.id === 'garbled.out')).toMatchObject({
        state: 'running',
        restarts: 0,
      });
      expect(await metricValue(node, METRIC.deadLetters, { pipeline: 'garbled', stage: 'check' })).toBe(2);
    } finally {
      await node.stop();
    }
  });

  it('warns about a replayed dead letter that names a task the pipeline no longer has', async () => {
    const sink = rejectingSink({ name: 'collect' });
    const warnings: Record<string, unknown>[] = [];
    const { node, transport } = await startNode({
      dir,
      plugins: [tracedSource(), sink.plugin],
      pipelines: [
        {
          name: 'renamed',
          sources: [{ name: 'src', plugin: 'counting', config: { total: 5 } }],
          sinks: [{ name: 'out', plugin: 'collect', inputs: ['src'] }],
        },
      ],
      onLog: (line) => warnings.push(line),
    });
    try {
      await until(() => sink.flushed.length >= 5, 15_000);
      const [first] = await readTopic(
        transport,
        (await transport.listTopics()).find((t) => t.startsWith('src.'))!,
      );
      const producer = transport.producer();
      await producer.send([
        {
          topic: replayTopic('renamed'),
          key: first!.key,
          value: first!.value,
          headers: {
            [DEAD_LETTER_HEADER.task]: 'renamed.old-name',
            [DEAD_LETTER_HEADER.topic]: first!.topic,
          },
        },
      ]);
      await producer.close();
      await until(() => warnings.some((w) => w['task'] === 'renamed.old-name'), 15_000);
      expect(warnings.find((w) => w['task'] === 'renamed.old-name')?.['msg']).toMatch(/does not have/);
      expect(sink.flushed).toHaveLength(5);
    } finally {
      await node.stop();
    }
  });
});

describe('replayRecord', () => {
  const letter = (partition: string | undefined): ConsumedRecord => ({
    topic: deadLetterTopic('p'),
    partition: 0,
    offset: 7,
    key: Buffer.from('k'),
    value: Buffer.from('v'),
    timestamp: 0,
    headers: {
      [DEAD_LETTER_HEADER.task]: 'p.copy',
      [DEAD_LETTER_HEADER.topic]: 'p.src',
      ...(partition === undefined ? {} : { [DEAD_LETTER_HEADER.partition]: partition }),
    },
  });

  it('sends a replay to the partition number it was first read from, when the replay topic has it', () => {
    expect(replayRecord('p', letter('2'), 4).partition).toBe(2);
    // Fewer replay partitions (a topic from before), or no origin: the key decides.
    expect(replayRecord('p', letter('2'), 1).partition).toBeUndefined();
    expect(replayRecord('p', letter(undefined), 4).partition).toBeUndefined();
    expect(replayRecord('p', letter(''), 4).partition).toBeUndefined();
    expect(replayRecord('p', letter('2')).partition).toBeUndefined();
  });
});
