import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTransport } from '../transport/embedded/embedded-transport.js';
import { ChangelogMap } from './changelog-map.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-changelog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ChangelogMap', () => {
  it('restores what was written when opened again', async () => {
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    const map = await ChangelogMap.open(transport, 'positions');
    await map.put('a', { lsn: 1 });
    await map.put('b', { lsn: 2 });
    await map.delete('b');
    await map.put('a', { lsn: 3 });
    await map.close();
    const reopened = await ChangelogMap.open(transport, 'positions');
    expect(reopened.get('a')).toEqual({ lsn: 3 });
    expect(reopened.get('b')).toBeUndefined();
    await reopened.close();
    await transport.close();
  });

  it('reads an uncertain key back from the topic: a commit whose answer was lost may have taken effect', async () => {
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    const map = await ChangelogMap.open(transport, 'positions');
    await map.put('source', { lsn: 10 });
    // The caller's transaction wrote the record, but the commit's answer never came: memory says 10.
    const producer = transport.producer();
    await producer.send([map.recordOf('source', { lsn: 20 })]);
    await producer.close();
    expect(await map.current('source')).toEqual({ lsn: 10 });
    map.markUncertain('source');
    expect(await map.current('source')).toEqual({ lsn: 20 });
    await map.close();
    await transport.close();
  });
});
