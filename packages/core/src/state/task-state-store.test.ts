import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delegatingConsumer } from '../transport/__fixtures__/delegating-consumer.js';
import { createLogger } from '../logging/logger.js';
import { EmbeddedTransport } from '../transport/embedded/embedded-transport.js';
import type { Consumer, ConsumerOptions } from '../transport/transport.js';
import { TaskStateStore } from './task-state-store.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-task-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logger = createLogger({ level: 'silent' });
const topic = '__datamesh_state.p.join';

async function open(transport: EmbeddedTransport, file = 'store.sqlite') {
  return TaskStateStore.open({ transport, topic, path: join(dir, file), logger });
}

/** The embedded transport, whose consumers pass every call on except the ones `change` replaces. */
function withConsumers(
  embedded: EmbeddedTransport,
  change: (inner: Consumer) => Partial<Consumer>,
): EmbeddedTransport {
  return Object.assign(Object.create(embedded) as EmbeddedTransport, {
    consumer(options: ConsumerOptions): Consumer {
      const inner = embedded.consumer(options);
      return delegatingConsumer(inner, change(inner));
    },
  });
}

describe('TaskStateStore', () => {
  it('reads its writes at once, and answers prefixes in key order', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const { store } = await open(transport);
    await store.put('idx\u00007\u0000b', 1);
    await store.put('idx\u00007\u0000a', 1);
    await store.put('idx\u00008\u0000c', 1);
    await store.put('row\u0000a', { id: 'a' });
    expect(store.get('row\u0000a')).toEqual({ id: 'a' });
    expect([...store.entries('idx\u00007\u0000')].map(([k]) => k)).toEqual([
      'idx\u00007\u0000a',
      'idx\u00007\u0000b',
    ]);
    await store.delete('idx\u00007\u0000a');
    expect([...store.entries('idx\u00007')].map(([k]) => k)).toEqual(['idx\u00007\u0000b']);
    await store.close();
    await transport.close();
  });

  it('keeps what was flushed and drops what was not, as a crash would', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const { store, report } = await open(transport);
    expect(report.unborn).toBe(true);
    await store.born();
    await store.put('a', 1);
    await store.put('b', 2);
    await store.flush();
    await store.put('a', 10);
    await store.delete('b');
    await store.close();
    const again = await open(transport);
    expect(again.report.unborn).toBe(false);
    expect(again.store.get('a')).toBe(1);
    expect(again.store.get('b')).toBe(2);
    await again.store.close();
    await transport.close();
  });

  it('replays only the changelog tail over a local store that has the rest', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const first = await open(transport);
    for (let i = 0; i < 100; i++) await first.store.put(`k${i}`, i);
    await first.store.flush();
    await first.store.close();
    const second = await open(transport);
    // A first restore of this local store reads all; it remembers where it got to.
    await second.store.put('k0', 'changed');
    await second.store.flush();
    await second.store.close();
    const third = await open(transport);
    expect(third.report.replayed).toBeLessThanOrEqual(1);
    expect(third.store.get('k0')).toBe('changed');
    expect(third.store.get('k99')).toBe(99);
    expect(third.report.entries).toBe(100);
    await third.store.close();
    await transport.close();
  });

  it('opens again at once when nothing was written since the last restore (a reader that only knows the end once it fetched it)', async () => {
    const embedded = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    // Like Kafka's consumer: it can tell it reached the end only by having fetched up to it.
    const transport = withConsumers(embedded, (inner) => {
      let fetched = 0;
      return {
        async poll(o) {
          const records = await inner.poll(o);
          for (const r of records) fetched = Math.max(fetched, r.offset + 1);
          return records;
        },
        readUpTo: (_topic, ends) => fetched >= (ends[0] ?? 0),
      };
    });
    for (let life = 0; life < 4; life++) {
      const { store } = await open(transport);
      if (life === 0) {
        await store.put('a', 1);
        await store.flush();
      }
      expect(store.get('a')).toBe(1);
      await store.close();
    }
    await embedded.close();
  }, 20_000);

  it('keeps what a restore read when it dies after remembering how far it read', async () => {
    const embedded = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const first = await open(embedded);
    await first.store.put('a', 1);
    await first.store.flush();
    await first.store.close();
    await (await open(embedded)).store.close();
    // Changelog records the local store does not have yet (as after a crash between a flush's send and its
    // local commit), written here through a second local store.
    const other = await open(embedded, 'other.sqlite');
    await other.store.put('b', 2);
    await other.store.flush();
    await other.store.close();
    // The restore reads them, remembers its position, and dies while leaving its group.
    const dying = withConsumers(embedded, (inner) => ({
      close: async () => {
        await inner.close();
        throw new Error('killed while leaving the group');
      },
    }));
    await expect(open(dying)).rejects.toThrow('killed while leaving the group');
    const again = await open(embedded);
    expect(again.store.get('a')).toBe(1);
    expect(again.store.get('b')).toBe(2);
    await again.store.close();
    await embedded.close();
  });

  it('rebuilds a new local store (another node, a wiped disk) from the whole changelog', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const first = await open(transport, 'node-a.sqlite');
    await first.store.put('a', 1);
    await first.store.put('b', 2);
    await first.store.flush();
    await first.store.delete('a');
    await first.store.flush();
    await first.store.close();
    const moved = await open(transport, 'node-b.sqlite');
    expect(moved.report.replayed).toBe(3);
    expect(moved.store.get('a')).toBeUndefined();
    expect(moved.store.get('b')).toBe(2);
    await moved.store.close();
    await transport.close();
  });

  it('drops a local store whose changelog topic is gone, and says so on every open until told to start empty', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const { store } = await open(transport);
    await store.born();
    await store.put('a', 1);
    await store.flush();
    await store.close();
    await transport.close();
    // Another log: the topic is not there any more.
    const other = await EmbeddedTransport.open({ dir: join(dir, 'other-log'), fsync: 'never' });
    for (let attempt = 0; attempt < 2; attempt++) {
      const reopened = await open(other);
      expect(reopened.report.unborn).toBe(true);
      expect(reopened.store.get('a')).toBeUndefined();
      await reopened.store.close();
    }
    const started = await open(other);
    await started.store.born();
    await started.store.close();
    // Born: a moved store (another file) reads the birth record back.
    expect((await open(other, 'moved.sqlite')).report.unborn).toBe(false);
    await other.close();
  });

  it('says its state is lost when the changelog is shorter than what the local store applied', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const first = await open(transport);
    await first.store.born();
    for (let i = 0; i < 5; i++) await first.store.put(`k${i}`, i);
    await first.store.flush();
    await first.store.close();
    await transport.close();
    // The topic recreated under the same name, with less in it.
    const recreated = await EmbeddedTransport.open({ dir: join(dir, 'log-2'), fsync: 'never' });
    const other = await open(recreated, 'scratch.sqlite');
    await other.store.born();
    await other.store.close();
    const lost = await open(recreated);
    expect(lost.report.unborn).toBe(true);
    expect(lost.report.entries).toBe(0);
    await lost.store.close();
    await recreated.close();
  });

  it('writes a flush of many records and counts it applied', async () => {
    const transport = await EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' });
    const { store } = await open(transport);
    await store.born();
    for (let i = 0; i < 200_000; i++) await store.put(`k${i}`, i);
    await store.flush();
    await store.close();
    const again = await open(transport);
    expect(again.report.entries).toBe(200_000);
    expect(again.store.get('k199999')).toBe(199_999);
    await again.store.close();
    await transport.close();
  }, 60_000);
});
