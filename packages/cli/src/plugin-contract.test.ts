import { describe, expect, it } from 'vitest';
import { contractFits, contractRange, contractRefusal, type PublishedVersion } from './plugin-contract.js';

/** A registry holding these versions: `spec` is a tag (`latest`: the highest), a version or a range. */
function registry(versions: readonly PublishedVersion[]) {
  return async (_name: string, spec: string) => {
    if (spec === 'latest') return versions.slice(-1);
    const exact = versions.filter((v) => v.version === spec);
    if (exact.length > 0) return exact;
    return spec === '>=0.0.0' ? versions : [];
  };
}

const v = (version: string, contract?: unknown): PublishedVersion =>
  contract === undefined ? { version } : { version, datamesh: { contract } };

describe('contractFits', () => {
  it('is true when the range includes the contract', () => {
    expect(contractFits('^1.0.0', '1.1.0')).toBe(true);
    expect(contractFits('^1.1.0', '1.1.0')).toBe(true);
    expect(contractFits('^1.2.0', '1.1.0')).toBe(false);
    expect(contractFits('^9.0.0', '1.1.0')).toBe(false);
    expect(contractFits('not a range', '1.1.0')).toBe(false);
    expect(contractFits(undefined, '1.1.0')).toBe(false);
  });
});

describe('contractRange', () => {
  it('is the caret range of the major and minor', () => {
    expect(contractRange('1.1.0')).toBe('^1.1.0');
    expect(contractRange('2.0.3')).toBe('^2.0.0');
  });
});

describe('contractRefusal', () => {
  it('lets a fitting plugin, a package that is no plugin, and an unknown package through', async () => {
    expect(await contractRefusal('p', 'latest', registry([v('1.0.0', '^1.0.0')]), '1.1.0')).toBeUndefined();
    expect(await contractRefusal('p', 'latest', registry([v('1.0.0')]), '1.1.0')).toBeUndefined();
    expect(await contractRefusal('p', 'latest', async () => undefined, '1.1.0')).toBeUndefined();
  });

  it('refuses a plugin built for another contract, naming the versions that fit', async () => {
    const versions = [v('0.1.0', '^1.0.0'), v('0.2.0', '^1.1.0'), v('0.3.0', '^2.0.0'), v('1.0.0', '^9.0.0')];
    const message = await contractRefusal('p', 'latest', registry(versions), '1.1.0', 'mesh');
    expect(message).toContain(
      'p@1.0.0 is built for plugin contract ^9.0.0, but this mesh implements plugin contract 1.1.0',
    );
    expect(message).toContain(
      'Versions of p that fit: 0.2.0, 0.1.0. Install one with: mesh plugins install p@0.2.0',
    );
  });

  it('takes the highest version a range allows, as npm does', async () => {
    const view = async () => [v('0.1.0', '^1.0.0'), v('0.2.0', '^2.0.0')];
    expect(await contractRefusal('p', '0.x', view, '1.1.0')).toMatch(
      /^p@0\.2\.0 is built for plugin contract/,
    );
  });

  it('says when no version fits, and when the range is not one', async () => {
    expect(await contractRefusal('p', 'latest', registry([v('1.0.0', '^2.0.0')]), '1.1.0')).toContain(
      'No published version of p fits: ask its authors for a build against contract ^1.1.0.',
    );
    expect(await contractRefusal('p', 'latest', registry([v('1.0.0', 'one')]), '1.1.0')).toMatch(
      /^p@1\.0\.0 declares no valid "datamesh\.contract" range \("one"\)/,
    );
  });
});
