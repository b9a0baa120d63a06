// A lock between processes (vitest workers start services concurrently): a file created exclusively that
// holds the owner's pid; a lock whose owner died is taken over.
import { openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './daemon.mjs';
import { dataDir } from './paths.mjs';
import { ServiceError } from './system.mjs';

export async function withServiceLock(service, run, { timeoutMs = 15 * 60_000 } = {}) {
  const file = join(dataDir(service), 'lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let owner = NaN;
      try {
        owner = Number(readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new ServiceError(`timed out waiting for ${service}'s lock held by pid ${owner} (${file})`);
      }
      await sleep(250);
    }
  }
  try {
    return await run();
  } finally {
    rmSync(file, { force: true });
  }
}
