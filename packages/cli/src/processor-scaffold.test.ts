import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_VERSION } from '@datamesh/core';
import { exportNameOf, scaffoldProcessor, ScaffoldError } from './processor-scaffold.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'datamesh-scaffold-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('scaffoldProcessor', () => {
  it('writes a package declaring the plugin for this contract, with the SDK at the current versions', async () => {
    const dir = join(root, 'order-flags');
    const scaffold = await scaffoldProcessor({ name: 'order-flags', dir });
    const [major, minor] = CONTRACT_VERSION.split('.');
    expect(scaffold).toMatchObject({
      packageName: 'datamesh-processor-order-flags',
      exportName: 'orderFlagsProcessor',
      contract: `^${major}.${minor}.0`,
    });
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, never>;
    const core = JSON.parse(await readFile(new URL('../../core/package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const testkit = JSON.parse(
      await readFile(new URL('../../testkit/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(pkg['datamesh']).toEqual({
      kind: 'processor',
      name: 'order-flags',
      entry: './dist/index.js',
      contract: `^${major}.${minor}.0`,
    });
    expect(pkg['oclif']).toEqual({});
    expect(pkg['peerDependencies']).toEqual({ '@datamesh/core': `^${core.version}` });
    expect(pkg['devDependencies']).toMatchObject({
      '@datamesh/core': core.version,
      '@datamesh/testkit': testkit.version,
    });
    expect(scaffold.files).toEqual([
      '.gitignore',
      'README.md',
      'examples/node.yaml',
      'examples/pipeline.yaml',
      'package.json',
      'src/index.ts',
      'src/order-flags-processor.conformance.test.ts',
      'src/order-flags-processor.test.ts',
      'src/order-flags-processor.ts',
      'tsconfig.build.json',
      'tsconfig.json',
      'vitest.config.ts',
    ]);
  });

  it('fills every placeholder and points at nothing in this repository', async () => {
    const dir = join(root, 'filled');
    const { files } = await scaffoldProcessor({ name: 'big-orders', dir, packageName: '@acme/big-orders' });
    for (const file of files) {
      const text = await readFile(join(dir, file), 'utf8');
      expect(text, file).not.toMatch(/__[A-Z_]+__/);
      expect(text, file).not.toMatch(/\.\.\/\.\.\/|tsconfig\.base|@datamesh\/source|packages\//);
    }
    const processor = await readFile(join(dir, 'src/big-orders-processor.ts'), 'utf8');
    expect(processor).toContain('export const bigOrdersProcessor = defineProcessor({');
    expect(processor).toContain("name: 'big-orders',");
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toMatch(/^# @acme\/big-orders\n/);
  });

  it('refuses a name that is not kebab-case, an invalid package name and a directory that is not empty', async () => {
    await expect(scaffoldProcessor({ name: 'Order_Flags', dir: join(root, 'x') })).rejects.toThrow(
      /processor name must be kebab-case.*got "Order_Flags"/,
    );
    await expect(
      scaffoldProcessor({ name: 'x', dir: join(root, 'x'), packageName: 'Not A Package' }),
    ).rejects.toThrow(/"Not A Package" is not a valid npm package name/);
    const used = join(root, 'used');
    await mkdir(used);
    await writeFile(join(used, 'notes.txt'), '');
    await expect(scaffoldProcessor({ name: 'x', dir: used })).rejects.toThrow(ScaffoldError);
    await expect(scaffoldProcessor({ name: 'x', dir: used })).rejects.toThrow(
      /used is not empty \(notes\.txt\)/,
    );
    expect(await readdir(used)).toEqual(['notes.txt']);
  });

  it('accepts an empty directory', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    await expect(scaffoldProcessor({ name: 'x', dir: empty })).resolves.toMatchObject({ name: 'x' });
  });
});

describe('exportNameOf', () => {
  it('camel-cases the plugin name', () => {
    expect(exportNameOf('flags')).toBe('flagsProcessor');
    expect(exportNameOf('big-orders-2')).toBe('bigOrders2Processor');
  });
});
