// A local npm registry on 127.0.0.1:54873: Verdaccio 6, installed from the npm registry with
// `npm install --prefix .cache/services/verdaccio`, storage and users under tools/services/.data/verdaccio.
// Packages under @datamesh/* are served from the local storage only (never looked up upstream, so tests can publish
// the workspace's packages and plugins built on them); every other package is proxied to the registry npm is
// configured with here (`npm config get registry`) and kept in the storage, so a second install needs no network.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  canConnect,
  httpGet,
  logFile,
  runningAndReady,
  runningPid,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from './lib/daemon.mjs';
import { cacheDir, dataDir, logDir, repoRoot } from './lib/paths.mjs';
import { assertPortFree } from './lib/ports.mjs';
import { ServiceError, findOnPath, log, run } from './lib/system.mjs';

export const name = 'verdaccio';

const HOST = '127.0.0.1';
const PORT = 54873;
const VERDACCIO_RANGE = '6';
const NODE_FETCH_CJS = '2.7.0';
const DEFAULT_UPSTREAM = 'https://registry.npmjs.org/';
const READY_TIMEOUT_MS = 60_000;

export const description = `Verdaccio 6 npm registry on ${HOST}:${PORT}: @datamesh/* local and publishable, the rest proxied`;

export const endpoint = {
  url: `http://${HOST}:${PORT}/`,
  /** Packages matching this are served from the local storage only; publish them here. */
  localScope: '@datamesh',
};

function paths() {
  const prefix = cacheDir(name);
  const data = dataDir(name);
  return {
    prefix,
    main: join(prefix, 'node_modules', 'verdaccio', 'bin', 'verdaccio'),
    packageJson: join(prefix, 'node_modules', 'verdaccio', 'package.json'),
    config: join(data, 'config.yaml'),
    storage: join(data, 'storage'),
    plugins: join(data, 'plugins'),
    htpasswd: join(data, 'htpasswd'),
    logs: logDir(name),
  };
}

function installedVersion() {
  const { main, packageJson } = paths();
  if (!existsSync(main) || !existsSync(packageJson)) return undefined;
  try {
    const version = JSON.parse(readFileSync(packageJson, 'utf8')).version;
    return typeof version === 'string' && version.startsWith(`${VERDACCIO_RANGE}.`) ? version : undefined;
  } catch {
    return undefined;
  }
}

/** The npm of the Node running the harness (next to it), else the first on PATH. */
function npmBinary() {
  const beside = join(dirname(process.execPath), 'npm');
  if (existsSync(beside)) return beside;
  const found = findOnPath('npm');
  if (!found) throw new ServiceError('npm not found next to node nor on PATH: it installs verdaccio');
  return found;
}

export async function install() {
  const already = installedVersion();
  if (already) {
    log(name, `already installed: verdaccio ${already} (${paths().prefix})`);
    return;
  }
  const { prefix } = paths();
  // A package.json of its own, so npm installs here and never into a project above. verdaccio-audit asks for
  // `node-fetch@cjs`, a dist-tag (2.7.0 on npmjs) that registry mirrors may not carry: pinned instead.
  writeFileSync(
    join(prefix, 'package.json'),
    `${JSON.stringify(
      {
        name: 'datamesh-verdaccio',
        private: true,
        overrides: { 'verdaccio-audit': { 'node-fetch': NODE_FETCH_CJS } },
      },
      null,
      2,
    )}\n`,
  );
  log(name, `npm install verdaccio@${VERDACCIO_RANGE} into ${prefix}`);
  run(npmBinary(), [
    'install',
    '--prefix',
    prefix,
    `verdaccio@${VERDACCIO_RANGE}`,
    '--omit=dev',
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--loglevel=error',
  ]);
  const version = installedVersion();
  if (!version) throw new ServiceError(`npm install finished but ${paths().main} is not there`);
  log(name, `installed: verdaccio ${version} (${prefix})`);
}

/**
 * The registry npm reaches on this machine (`npm config get registry`, asked from the repository so its
 * `.npmrc` counts): the uplink for everything outside @datamesh/*. Never this service itself.
 */
function upstreamRegistry() {
  const result = spawnSync(npmBinary(), ['config', 'get', 'registry'], {
    cwd: repoRoot,
    encoding: 'utf8',
    // An npm_config_registry pointing here (a test's environment) must not make Verdaccio its own uplink.
    env: Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k.toLowerCase() !== 'npm_config_registry'),
    ),
  });
  const url = result.status === 0 ? result.stdout.trim() : '';
  if (!/^https?:\/\//.test(url) || url.startsWith(`http://${HOST}:${PORT}`)) return DEFAULT_UPSTREAM;
  return url.endsWith('/') ? url : `${url}/`;
}

function writeConfig(upstream) {
  const p = paths();
  for (const dir of [p.storage, p.plugins]) mkdirSync(dir, { recursive: true });
  // JSON is YAML: every value quoted, no indentation to get wrong.
  const config = {
    storage: p.storage,
    plugins: p.plugins,
    // Users are created by `npm adduser` or PUT /-/user/org.couchdb.user:<name> (what tests do for a token).
    auth: { htpasswd: { file: p.htpasswd, max_users: 1000 } },
    // JWT tokens: checked by signature. The legacy tokens carry the password, which Verdaccio verifies with bcrypt
    // (~200 ms) on every request, and npm sends the token with every request to the registry.
    security: { api: { legacy: false, jwt: { sign: { expiresIn: '7d' } } } },
    uplinks: { npmjs: { url: upstream, timeout: '60s', maxage: '10m', max_fails: 5, fail_timeout: '1m' } },
    packages: {
      // No proxy: served from the local storage only, never looked up upstream.
      '@datamesh/*': { access: '$all', publish: '$authenticated', unpublish: '$authenticated' },
      '**': { access: '$all', publish: '$authenticated', unpublish: '$authenticated', proxy: 'npmjs' },
    },
    // Local publishes must not wait for (or depend on) the uplink.
    publish: { allow_offline: true },
    web: { enable: false },
    server: { keepAliveTimeout: 60 },
    max_body_size: '100mb',
    log: { type: 'stdout', format: 'pretty-timestamped', level: 'warn' },
  };
  writeFileSync(p.config, `${JSON.stringify(config, null, 2)}\n`);
}

async function ping() {
  const answer = await httpGet(`${endpoint.url}-/ping`);
  return answer?.status === 200;
}

export async function up() {
  if (!installedVersion()) await install();
  if (
    await runningAndReady(name, endpoint.url, `GET ${endpoint.url}-/ping answers 200`, ping, {
      timeoutMs: READY_TIMEOUT_MS,
    })
  )
    return;
  await assertPortFree(name, PORT, HOST);
  const upstream = upstreamRegistry();
  writeConfig(upstream);
  const p = paths();
  const started = Date.now();
  startDaemon(name, process.execPath, [p.main, '--config', p.config, '--listen', `${HOST}:${PORT}`], {
    cwd: dataDir(name),
  });
  await waitUntilReady(name, `GET ${endpoint.url}-/ping answers 200`, ping, { timeoutMs: READY_TIMEOUT_MS });
  log(
    name,
    `up in ${((Date.now() - started) / 1000).toFixed(1)} s; uplink ${upstream}; storage ${p.storage}`,
  );
}

export async function down() {
  await stopDaemon(name, { timeoutMs: 10_000 });
}

export async function status() {
  try {
    const pid = runningPid(name);
    if (await ping()) {
      if (pid === undefined) {
        return {
          ok: false,
          detail:
            `a registry answers on ${endpoint.url} but this harness did not start it (its storage is not known ` +
            `to be ${paths().storage}); stop it, then: npm run services -- up ${name}`,
        };
      }
      return { ok: true, detail: `verdaccio ${installedVersion() ?? '?'} at ${endpoint.url} (pid ${pid})` };
    }
    if (pid !== undefined) {
      return {
        ok: false,
        detail: `pid ${pid} is running but ${endpoint.url}-/ping does not answer yet (log: ${logFile(name)})`,
      };
    }
    if (await canConnect(PORT, HOST)) {
      return {
        ok: false,
        detail: `port ${PORT} on ${HOST} is in use by another process that is not a registry`,
      };
    }
    if (!installedVersion()) {
      return { ok: false, detail: `not installed (run: npm run services -- install ${name})` };
    }
    return { ok: false, detail: `installed, not running (run: npm run services -- up ${name})` };
  } catch (error) {
    return { ok: false, detail: `status failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
