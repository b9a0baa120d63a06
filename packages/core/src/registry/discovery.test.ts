import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONTRACT_VERSION } from '../contract/version.js';
import { discoverPlugins } from './discovery.js';

const fixture = (name: string) => fileURLToPath(new URL(`./__fixtures__/${name}`, import.meta.url));

describe('discoverPlugins', () => {
  it('loads a third-party plugin package declared by its datamesh key', async () => {
    const registry = await discoverPlugins({ packageDirs: [fixture('shout-processor')] });
    expect(registry.refused()).toEqual([]);
    const shout = registry.get('processor', 'shout');
    expect(shout.version).toBe('1.2.3');
    expect(registry.list()[0]).toMatchObject({
      packageName: 'datamesh-processor-shout',
      packageVersion: '1.2.3',
    });
  });

  it('refuses malformed, incompatible, broken and duplicate plugins, naming package and problem, and keeps loading the rest', async () => {
    const registry = await discoverPlugins({
      packageDirs: [
        'malformed-manifest',
        'future-contract',
        'broken-entry',
        'shout-processor',
        'shout-duplicate',
        'no-oclif-key',
      ].map(fixture),
    });
    expect(registry.names('processor')).toEqual(['shout']);
    const reasons = Object.fromEntries(registry.refused().map((r) => [r.packageName, r.reason]));
    expect(Object.keys(reasons).sort()).toEqual([
      'datamesh-broken-entry',
      'datamesh-malformed',
      'datamesh-no-oclif',
      'datamesh-processor-shout-fork',
      'datamesh-sink-future',
    ]);
    for (const field of ['kind', 'name', 'entry', 'contract']) {
      expect(reasons['datamesh-malformed']).toMatch(
        new RegExp(`^malformed plugin manifest: .*"datamesh\\.${field}"`),
      );
    }
    expect(reasons['datamesh-malformed']).toContain(
      '"datamesh.kind": must be one of source, processor, sink (got "transformer")',
    );
    expect(reasons['datamesh-malformed']).toContain(
      '"datamesh.name": must be kebab-case: lowercase letters, digits and single dashes (got "Bad Name")',
    );
    expect(reasons['datamesh-sink-future']).toContain(
      `built for plugin contract ^2.0.0, but this datamesh implements contract ${CONTRACT_VERSION}`,
    );
    expect(reasons['datamesh-broken-entry']).toMatch(/failed to load: cannot connect to the licence server/);
    expect(reasons['datamesh-processor-shout-fork']).toMatch(
      /duplicate processor plugin "shout": already provided by datamesh-processor-shout@1.2.3/,
    );
    expect(reasons['datamesh-no-oclif']).toMatch(/"oclif" key missing/);
  });

  it('scans node_modules (scoped and plain) and ignores packages without a datamesh key', async () => {
    const root = await mkdtemp(join(tmpdir(), 'datamesh-discovery-'));
    try {
      await mkdir(join(root, 'node_modules', '@acme'), { recursive: true });
      await symlink(fixture('shout-processor'), join(root, 'node_modules', '@acme', 'shout'));
      await mkdir(join(root, 'node_modules', 'left-pad'));
      await writeFile(
        join(root, 'node_modules', 'left-pad', 'package.json'),
        '{"name":"left-pad","version":"1.0.0"}',
      );
      // Found twice (node_modules and an explicit dir): loaded once, not refused as a duplicate.
      const registry = await discoverPlugins({
        nodeModulesOf: [root],
        packageDirs: [fixture('shout-processor')],
      });
      expect(registry.names('processor')).toEqual(['shout']);
      expect(registry.refused()).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
