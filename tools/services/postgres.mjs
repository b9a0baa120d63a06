// PostgreSQL 15 from Debian, set up for logical replication (wal_level=logical, room for 20 slots and senders),
// in its own cluster: data folder, port and socket of its own. The Debian package's `main` cluster (5432) is
// neither used nor touched.
// initdb and postgres refuse to run as root, so both run as the `postgres` system user the Debian package
// creates, through `setpriv` (it execs in place: the pid the harness records is the postmaster's own, and the
// server runs in the foreground with its output in the harness log). The cluster folder is owned by postgres.
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, aptInstall, capture, log } from './lib/system.mjs';
import {
  isAlive,
  runningPid,
  startDaemon,
  stopDaemon,
  usingRunningServer,
  waitUntilReady,
} from './lib/daemon.mjs';
import { dataDir } from './lib/paths.mjs';
import { assertPortFree } from './lib/ports.mjs';

export const name = 'postgres';
export const description = 'PostgreSQL 15 (Debian) with wal_level=logical for CDC, on 127.0.0.1:55432';

const HOST = '127.0.0.1';
const PORT = 55432;
const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'datamesh';
const CDC_ROLE = { user: 'cdc', password: 'cdc' };
const OS_USER = 'postgres';

export const endpoint = {
  host: HOST,
  port: PORT,
  user: USER,
  password: PASSWORD,
  database: DATABASE,
  connectionString: `postgresql://${USER}:${PASSWORD}@${HOST}:${PORT}/${DATABASE}`,
};

// Debian keeps the server binaries off PATH.
const PGBIN = '/usr/lib/postgresql/15/bin';
const BIN = {
  server: join(PGBIN, 'postgres'),
  initdb: join(PGBIN, 'initdb'),
  psql: join(PGBIN, 'psql'),
};
const SETPRIV = '/usr/bin/setpriv';
const AS_OS_USER = [`--reuid=${OS_USER}`, `--regid=${OS_USER}`, '--init-groups', '--'];

const CDC_SETTINGS = { wal_level: 'logical', max_replication_slots: 20, max_wal_senders: 20 };

// `replication` matches physical replication connections only; a logical one (replication=database) is
// matched by its database name, hence the `all` line.
const PG_HBA = `# written by tools/services/postgres.mjs
local all         all                  trust
local replication all                  trust
host  all         all   127.0.0.1/32   scram-sha-256
host  replication all   127.0.0.1/32   scram-sha-256
`;

const clusterDir = () => join(dataDir(name), 'pgdata');

function installed() {
  return Object.values(BIN).every((bin) => existsSync(bin));
}

function serverVersion() {
  const { status, stdout, stderr } = capture(BIN.server, ['--version']);
  if (status !== 0) throw new ServiceError(`${BIN.server} --version exited with ${status}: ${stderr.trim()}`);
  // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  return stdout.trim();
}

export async function install() {
  if (installed()) {
    log(name, `already installed: ${serverVersion()} (${PGBIN})`);
    return;
  }
  log(name, `${BIN.server} not found; installing the Debian postgresql-15 package`);
  aptInstall(name, ['postgresql-15']);
  const missing = Object.values(BIN).filter((bin) => !existsSync(bin));
  if (missing.length > 0) {
    throw new ServiceError(`postgresql-15 installed but ${missing.join(', ')} still missing`);
  }
  log(name, `installed: ${serverVersion()} (${PGBIN})`);
}

/** uid and gid of the postgres system user (created by the Debian package). */
function osUser() {
  const ids = ['-u', '-g'].map((flag) => capture('id', [flag, OS_USER]));
  if (ids.some((r) => r.status !== 0)) {
    throw new ServiceError(
      `no "${OS_USER}" system user; it comes with the postgresql-common package (apt-get install postgresql-15)`,
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

/** Creates the cluster folder owned by postgres, and checks that user can reach it through every parent. */
function prepareClusterDir() {
  const dir = clusterDir();
  const { uid, gid } = osUser();
  rmSync(dir, { recursive: true, force: true }); // a half-made folder from a failed initdb
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, uid, gid);
  const reach = capture(SETPRIV, [...AS_OS_USER, 'test', '-w', dir]);
  if (reach.status !== 0) {
    throw new ServiceError(
      `the ${OS_USER} user cannot write ${dir}: every parent folder must be searchable by others ` +
        `(e.g. chmod o+x on the folder that is not), because the server runs as ${OS_USER}, not root`,
    );
  }
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
    runAsOsUser(BIN.initdb, [
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
  writeFileSync(join(dir, 'pg_hba.conf'), PG_HBA); // overwriting keeps initdb's owner (postgres)
}

// Settings are given on the command line at every start, so this file is their one source of truth.
function serverArgs() {
  const settings = {
    port: PORT,
    listen_addresses: HOST,
    unix_socket_directories: clusterDir(),
    ...CDC_SETTINGS,
  };
  return [
    BIN.server,
    '-D',
    clusterDir(),
    ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
  ];
}

/** Runs SQL over TCP as the postgres user; resolves the rows (fields tab-separated), throws when unanswered. */
function query(sql) {
  const url = `postgresql://${USER}:${PASSWORD}@${HOST}:${PORT}/postgres?connect_timeout=3`;
  const { status, stdout, stderr } = capture(BIN.psql, [
    '-X',
    '-At',
    '-F',
    '\t',
    '-v',
    'ON_ERROR_STOP=1',
    url,
    '-c',
    sql,
  ]);
  if (status !== 0) throw new ServiceError(stderr.trim() || `psql exited with ${status}`);
  return stdout.trim();
}

/** The test database and the replication role; idempotent, run at every start. */
function ensureObjects() {
  if (query(`SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'`) === '') {
    query(`CREATE DATABASE ${DATABASE}`);
    log(name, `created database ${DATABASE}`);
  }
  const { user, password } = CDC_ROLE;
  if (query(`SELECT 1 FROM pg_roles WHERE rolname = '${user}'`) === '') {
    query(`CREATE ROLE ${user} LOGIN REPLICATION PASSWORD '${password}'`);
    log(name, `created role ${user} (LOGIN REPLICATION)`);
  }
}

function answers() {
  try {
    return query('SELECT 1') === '1';
  } catch {
    return false;
  }
}

export async function up() {
  await install();
  if (await usingRunningServer(name, `${HOST}:${PORT}`, answers)) return;
  await assertPortFree(name, PORT, HOST);
  if (!existsSync(join(clusterDir(), 'PG_VERSION'))) initCluster();
  startDaemon(name, SETPRIV, [...AS_OS_USER, ...serverArgs()]);
  await waitUntilReady(name, `answers queries on ${HOST}:${PORT}`, answers);
  ensureObjects();
}

export async function down() {
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

export async function status() {
  if (!installed()) {
    return { ok: false, detail: `not installed (run: npm run services -- install ${name})` };
  }
  const pid = runningPid(name);
  if (pid === undefined) return { ok: false, detail: `not running (run: npm run services -- up ${name})` };
  try {
    const [version, walLevel] = query("SELECT version(), current_setting('wal_level')").split('\t');
    const short = /^PostgreSQL \S+/.exec(version)?.[0] ?? version;
    return { ok: true, detail: `${short} on ${HOST}:${PORT} (pid ${pid}, wal_level=${walLevel})` };
  } catch (error) {
    return { ok: false, detail: `pid ${pid} runs but does not answer on ${HOST}:${PORT}: ${error.message}` };
  }
}
