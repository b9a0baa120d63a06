import { mkdir, mkdtemp, readlink, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hydrateSymlinks, postgresBinaries } from './embedded-postgres.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-pg-links-'));
  await mkdir(join(dir, 'native', 'lib'), { recursive: true });
  await writeFile(join(dir, 'native', 'lib', 'libpq.so.5.18'), 'libpq');
  await writeFile(join(dir, 'native', 'lib', 'libicuuc.so.60.2'), 'icu');
  await writeFile(
    join(dir, 'native', 'pg-symlinks.json'),
    JSON.stringify([
      { source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so' },
      { source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so.5' },
      { source: 'native/lib/libicuuc.so.60.2', target: 'native/lib/libicuuc.so.60' },
    ]),
  );
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hydrateSymlinks', () => {
  it('makes the links the package lists, relative to their folder, as its skipped postinstall script would', async () => {
    expect(hydrateSymlinks(dir)).toBe(3);
    const lib = join(dir, 'native', 'lib');
    expect(await readlink(join(lib, 'libpq.so.5'))).toBe('libpq.so.5.18');
    expect(await readlink(join(lib, 'libicuuc.so.60'))).toBe('libicuuc.so.60.2');
    expect(await readFile(join(lib, 'libpq.so'), 'utf8')).toBe('libpq');
  });

  it('leaves links that are there, and replaces dangling ones', async () => {
    const lib = join(dir, 'native', 'lib');
    await symlink('libpq.so.5.18', join(lib, 'libpq.so.5'));
    await symlink('gone.so', join(lib, 'libicuuc.so.60'));
    expect(hydrateSymlinks(dir)).toBe(2);
    expect(await readFile(join(lib, 'libicuuc.so.60'), 'utf8')).toBe('icu');
    expect(hydrateSymlinks(dir)).toBe(0);
  });

  it('does nothing for a package without a list', async () => {
    await rm(join(dir, 'native', 'pg-symlinks.json'));
    expect(hydrateSymlinks(dir)).toBe(0);
  });
});

describe('postgresBinaries', () => {
  it("finds this platform's binaries through embedded-postgres", () => {
    const binaries = postgresBinaries();
    expect(binaries.postgres).toMatch(/@embedded-postgres\/[a-z0-9]+-[a-z0-9]+\/native\/bin\/postgres$/);
    expect(binaries.initdb).toMatch(/native\/bin\/initdb$/);
  });
});
