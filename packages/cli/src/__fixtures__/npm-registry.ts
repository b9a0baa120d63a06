import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/** The npm `mesh plugins install` runs (@oclif/plugin-plugins' own), so the tests publish and install with one npm. */
export const NPM_CLI = (() => {
  const require = createRequire(import.meta.url);
  const manifest = createRequire(require.resolve('@oclif/plugin-plugins')).resolve('npm/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: { npm: string } };
  return join(dirname(manifest), bin.npm);
})();

/** npm's cache for these tests: kept across runs (under the OS temp dir), so installs need no download. */
export const NPM_CACHE = join(tmpdir(), 'datamesh-e2e-npm-cache');

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs a command to its end without blocking the test's event loop; kills it after `timeoutMs`. */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 });
    });
  });
}

export function npm(args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }) {
  return run(process.execPath, [NPM_CLI, ...args], options);
}

/** Like `npm`, but a non-zero exit is an error carrying npm's output. */
export async function npmOk(args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }) {
  const result = await npm(args, options);
  if (result.status !== 0) {
    throw new Error(
      `npm ${args.join(' ')} exited ${result.status}${options.cwd ? ` in ${options.cwd}` : ''}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/**
 * A token of `user` on a Verdaccio registry: the user is created on first use (PUT /-/user/org.couchdb.user:…),
 * logged in with its password after that.
 */
export async function registryToken(registry: string, user: string, password: string): Promise<string> {
  const url = new URL(`-/user/org.couchdb.user:${encodeURIComponent(user)}`, registry);
  const body = JSON.stringify({ name: user, password });
  const put = (headers: Record<string, string>) =>
    fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body });
  let response = await put({});
  if (response.status === 409) {
    response = await put({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  }
  const answer = (await response.json()) as { token?: string; error?: string };
  if (!response.ok || !answer.token) {
    throw new Error(`no token for ${user} from ${registry}: ${response.status} ${answer.error ?? ''}`);
  }
  return answer.token;
}

/**
 * The environment of every npm (and `mesh plugins install`) a test runs: npm's user config is `<home>/.npmrc`,
 * which names the registry, its token and the shared cache (tarballs come from it; package metadata is
 * revalidated, as the tests republish versions). What an outer `npm run` exported (npm_config_*, npm_package_*, …) and vitest's own
 * variables are left out, so npm never takes the monorepo for the project; this Node comes first on PATH.
 */
export async function npmEnvironment(
  base: NodeJS.ProcessEnv,
  home: string,
  registry: string,
  token: string,
): Promise<NodeJS.ProcessEnv> {
  const userconfig = join(home, '.npmrc');
  const { host, pathname } = new URL(registry);
  await mkdir(NPM_CACHE, { recursive: true });
  await writeFile(
    userconfig,
    [
      `registry=${registry}`,
      `//${host}${pathname}:_authToken=${token}`,
      `cache=${NPM_CACHE}`,
      'audit=false',
      'fund=false',
      'update-notifier=false',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (/^(npm_|VITEST|TINYPOOL)/i.test(key)) continue;
    env[key] = value;
  }
  env['npm_config_userconfig'] = userconfig;
  env['PATH'] = [dirname(process.execPath), base['PATH'] ?? ''].join(delimiter);
  return env;
}

/**
 * Publishes the package in `dir` (packed as npm packs it) unless the registry holds the same tarball already:
 * `npm pack` output is reproducible, so an unchanged build is not published again. A changed one replaces the
 * version (unpublished first; a test registry allows it).
 */
export async function publishPackage(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ name: string; version: string; published: boolean }> {
  const destination = await mkdtemp(join(tmpdir(), 'datamesh-pack-'));
  try {
    const packed = await npmOk(['pack', '--json', '--pack-destination', destination], { cwd: dir, env });
    const { name, version, shasum, filename } = (
      JSON.parse(packed.stdout) as { name: string; version: string; shasum: string; filename: string }[]
    )[0]!;
    const held = await npm(['view', `${name}@${version}`, 'dist.shasum'], { env });
    if (held.status === 0 && held.stdout.trim() === shasum) return { name, version, published: false };
    if (held.status === 0 && held.stdout.trim() !== '') {
      await npmOk(['unpublish', `${name}@${version}`, '--force'], { env });
    }
    await npmOk(['publish', join(destination, filename)], { env });
    return { name, version, published: true };
  } finally {
    await rm(destination, { recursive: true, force: true });
  }
}
