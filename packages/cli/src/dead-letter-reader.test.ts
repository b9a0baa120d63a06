import { describe, expect, it } from 'vitest';
import { stageSelected } from './dead-letter-reader.js';

describe('stageSelected', () => {
  it('selects a named stage and the parts of a stage that runs as parts, nothing else', () => {
    expect(stageSelected(['enrich'], 'enrich')).toBe(true);
    expect(stageSelected(['enrich'], 'enrich.matched')).toBe(true);
    expect(stageSelected(['enrich'], 'enrich-orders')).toBe(false);
    expect(stageSelected(['enrich', 'mask'], 'mask')).toBe(true);
    expect(stageSelected(['enrich'], 'mask')).toBe(false);
  });
});
