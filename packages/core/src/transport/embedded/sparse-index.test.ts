import { describe, expect, it } from 'vitest';
import { SparseIndex } from './sparse-index.js';

describe('SparseIndex', () => {
  it('keeps one entry per interval and finds the floor position of an offset', () => {
    const index = new SparseIndex(100);
    for (let i = 0; i < 50; i++) index.add(i, i * 30);
    expect(index.size).toBe(13);
    expect(index.floorPosition(0)).toBe(0);
    expect(index.floorPosition(3)).toBe(0);
    expect(index.floorPosition(4)).toBe(120);
    expect(index.floorPosition(5)).toBe(120);
    expect(index.floorPosition(1000)).toBe(1440);
  });

  it('answers 0 before the first entry and forgets entries past a truncation', () => {
    const index = new SparseIndex(10);
    index.add(5, 0);
    index.add(6, 10);
    index.add(7, 20);
    expect(index.floorPosition(2)).toBe(0);
    index.truncate(10);
    expect(index.size).toBe(1);
    expect(index.floorPosition(7)).toBe(0);
    index.add(6, 10);
    expect(index.floorPosition(7)).toBe(10);
  });
});
