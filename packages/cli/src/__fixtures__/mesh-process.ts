import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/commands', import.meta.url));

/** The end-to-end tests run the real, built `mesh` binary. */
export function assertBuilt(): void {
  if (!existsSync(DIST))
    throw new Error('packages/cli is not built: run `npm run build` (npm test does it for you)');
}

export interface MeshResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function mesh(args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): MeshResult {
  const result = spawnSync(process.execPath, [CLI_BIN, ...args], {
    env,
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A `mesh node start` running in the background, with its JSON log lines collected. */
export class MeshNodeProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string) {
    this.child = spawn(process.execPath, [CLI_BIN, 'node', 'start', ...args], {
      env,
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ text: line });
        }
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** The node's HTTP address, once it logged that it started. */
  async url(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const started = this.lines.find((l) => l['msg'] === 'node started');
      if (started) return started['url'] as string;
      if (this.child.exitCode !== null)
        throw new Error(`node exited (${this.child.exitCode}) before starting:\n${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`node did not start within ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function which(binary: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/**
 * A temp HOME with its own oclif data, config and cache dirs, so linked plugins never leak between test
 * files or runs. Checks the CLI is built; `remove()` deletes the folder.
 */
export async function isolatedHome(
  prefix: string,
): Promise<{ home: string; env: NodeJS.ProcessEnv; remove(): Promise<void> }> {
  assertBuilt();
  const home = await mkdtemp(join(tmpdir(), prefix));
  const env = {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
  };
  return { home, env, remove: () => rm(home, { recursive: true, force: true }) };
}
