import { describe, expect, it } from 'vitest';
import { IndexNamer } from './index-naming.js';
import { change } from './__fixtures__/change-records.js';

describe('IndexNamer', () => {
  it('names the index from the topic the event belongs to, also for a replayed dead letter', () => {
    const first = change('u', 1, 10, { topic: 'shop.public.orders' });
    const replayed = { ...first, position: { topic: 'datamesh.dlq.shop.replay', partition: 0, offset: 3 } };
    const namer = new IndexNamer('${topic}');
    expect(namer.nameFor(first)).toBe('shop.public.orders');
    expect(namer.nameFor(replayed)).toBe('shop.public.orders');
  });

  it('fills table and schema from the source block, and keeps a fixed name as it is', () => {
    const record = change('c', 1, 10, { table: 'orders' });
    expect(new IndexNamer('search-${table}').nameFor(record)).toMatch(/^search-orders$/);
    expect(new IndexNamer('fixed').nameFor(record)).toBe('fixed');
  });
});
