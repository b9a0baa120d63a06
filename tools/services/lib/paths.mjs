// Where the harness keeps things. Downloads (jars, the Maven repository) go under .cache/services, data and
// logs under tools/services/.data; both are git-ignored and survive `down`, so a failed run's logs stay.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cacheRoot = join(repoRoot, '.cache', 'services');
export const dataRoot = join(repoRoot, 'tools', 'services', '.data');
/** Maven's local repository, kept inside the project so a fresh clone never touches ~/.m2. */
export const mavenRepo = join(repoRoot, '.cache', 'maven');

/** The download folder of a service (created). */
export function cacheDir(service) {
  const dir = join(cacheRoot, service);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The data folder of a service (created). */
export function dataDir(service) {
  const dir = join(dataRoot, service);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The log folder of a service (created); logs are kept across runs for failed ones. */
export function logDir(service) {
  const dir = join(dataRoot, service, 'logs');
  mkdirSync(dir, { recursive: true });
  return dir;
}
