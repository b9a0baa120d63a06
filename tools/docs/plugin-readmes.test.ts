import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ESM script of the tools folder, without type declarations
import { renderedReadmes } from './plugin-readmes.mjs';

describe('plugin READMEs', () => {
  it('document each plugin config exactly as its schema says (regenerate with node tools/docs/plugin-readmes.mjs)', async () => {
    const readmes = (await renderedReadmes()) as { path: string; current: string; next: string }[];
    expect(readmes.length).toBeGreaterThanOrEqual(3);
    for (const readme of readmes) expect(readme.current, readme.path).toBe(readme.next);
  });
});
