import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from './durable-file.js';

const LOCK_FILE = 'LOCK';

export class DirLockedError extends Error {
  readonly dir: string;
  readonly pid: number;

  constructor(dir: string, pid: number) {
    super(
      `${dir} is already open for writing by process ${pid}${pid === process.pid ? ' (this process)' : ''}; ` +
        'close it there first, or open with readOnly: true to inspect it',
    );
    this.name = 'DirLockedError';
    this.dir = dir;
    this.pid = pid;
  }
}

export interface DirLock {
  release(): Promise<void>;
}

/**
 * Takes `<dir>/LOCK`, holding this process's pid. A lock whose process is gone (killed, crashed) is stale and
 * taken over. Node has no portable advisory `flock`, so the check is by pid: a pid reused by an unrelated
 * process makes the lock look held until that process ends.
 */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    const holder = await readHolder(path);
    if (holder !== undefined && isAlive(holder)) throw new DirLockedError(dir, holder);
    await rm(path, { force: true });
  }
  throw new Error(`could not take the lock ${path}: another process keeps taking it`);
}

async function readHolder(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return isErrno(error, 'EPERM');
  }
}
