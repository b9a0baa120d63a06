import { ConfigError, DirLockedError, DocumentError } from '@datamesh/core';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MeshCommand } from './base-command.js';
import { NoEmbeddedLogError } from './embedded-log.js';

/** An oclif root with no plugins and no commands: the test commands are run directly. */
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'datamesh-base-command-'));
  await writeFile(
    join(root, 'package.json'),
    JSON.stringify({ name: 'mesh-test', version: '0.0.0', oclif: {} }),
  );
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A command that fails with whatever error the test hands it. */
function failingWith(error: Error) {
  return class extends MeshCommand {
    static override enableJsonFlag = true;
    async run(): Promise<unknown> {
      await this.parse();
      throw error;
    }
  };
}

let stdout: string;
let stderr: string;
beforeEach(() => {
  stdout = '';
  stderr = '';
  // oclif writes through console.log and console.error.
  vi.spyOn(console, 'log').mockImplementation((text: unknown) => void (stdout += `${String(text)}\n`));
  vi.spyOn(console, 'error').mockImplementation((text: unknown) => void (stderr += `${String(text)}\n`));
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs the command; returns the exit code it ends with and the message oclif would print, if any. */
async function run(error: Error, argv: string[]): Promise<{ exit: number; printed?: string }> {
  try {
    await failingWith(error).run(argv, root);
  } catch (thrown) {
    const e = thrown as Error & { oclif?: { exit?: number }; code?: string };
    return e.code === 'EEXIT' ? { exit: e.oclif!.exit! } : { exit: e.oclif?.exit ?? 1, printed: e.message };
  }
  return { exit: typeof process.exitCode === 'number' ? process.exitCode : 0 };
}

const invalid = new DocumentError('pipeline p.yaml is invalid', [
  {
    path: '/sources/0/plugin',
    message: 'unknown source plugin "oracle"',
    location: { file: 'p.yaml', line: 5, column: 29 },
  },
  { path: '/name', message: 'pipeline name "p" is used by 2 files' },
]);

describe('MeshCommand.catch', () => {
  it('--json: an invalid document is {"valid": false, "problems": […]} on stdout, exit code 2', async () => {
    expect(await run(invalid, ['--json'])).toEqual({ exit: 2 });
    expect(JSON.parse(stdout)).toEqual({
      valid: false,
      problems: [
        {
          path: '/sources/0/plugin',
          message: 'unknown source plugin "oracle"',
          file: 'p.yaml',
          line: 5,
          column: 29,
        },
        {
          path: '/name',
          message: 'pipeline name "p" is used by 2 files',
          file: null,
          line: null,
          column: null,
        },
      ],
    });
    expect(stderr).toBe('');
  });

  it('without --json: an invalid document is listed on stderr, as before', async () => {
    expect(await run(invalid, [])).toEqual({ exit: 2 });
    expect(stderr).toBe(
      'pipeline p.yaml is invalid:\n' +
        '  p.yaml:5:29 /sources/0/plugin: unknown source plugin "oracle"\n' +
        '  /name: pipeline name "p" is used by 2 files\n',
    );
    expect(stdout).toBe('');
  });

  it('--json: an invalid config is {"error": message}, exit code 2', async () => {
    const error = new ConfigError('stage "orders"', [{ path: '/rate', message: 'Expected number' }]);
    expect(await run(error, ['--json'])).toEqual({ exit: 2 });
    expect(JSON.parse(stdout)).toEqual({
      error: 'stage "orders": invalid configuration\n  - /rate: Expected number',
    });
  });

  it('a data dir held by another process: who holds it and what to do, exit code 2', async () => {
    const error = new DirLockedError('/data/demo/log', 4242);
    const message =
      'another datamesh process (pid 4242) is using /data/demo/log; stop it or use another data dir';
    expect(await run(error, [])).toEqual({ exit: 2, printed: message });
    expect(await run(error, ['--json'])).toEqual({ exit: 2 });
    expect(JSON.parse(stdout)).toEqual({ error: message });
  });

  it('a data dir without an embedded log: suggests --data-dir, exit code 2', async () => {
    const result = await run(new NoEmbeddedLogError('/data/typo'), []);
    expect(result.exit).toBe(2);
    expect(result.printed).toMatch(
      /^the data dir \/data\/typo has no embedded log; pass the node's data dir with --data-dir/,
    );
  });

  it('--json: any other failure is {"error": message}, exit code 1; without --json oclif prints it', async () => {
    expect(await run(new Error('disk on fire'), ['--json'])).toEqual({ exit: 1 });
    expect(JSON.parse(stdout)).toEqual({ error: 'disk on fire' });
    expect(await run(new Error('disk on fire'), [])).toEqual({ exit: 1, printed: 'disk on fire' });
  });
});
