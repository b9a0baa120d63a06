// MariaDB 10.11 from Debian, set up for binlog CDC: row-based binary log with full row images and full row
// metadata, uncompressed events; GTIDs are always on in MariaDB. Its own data folder, port and socket, started
// with --no-defaults so nothing from /etc/mysql leaks in; the Debian package's own server (3306) is left alone.
// We run as root, so mariadbd gets --user=root (its files stay root-owned inside the git-ignored data folder).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceError, aptInstall, capture, log } from './lib/system.mjs';
import { runningPid, startDaemon, stopDaemon, usingRunningServer, waitUntilReady } from './lib/daemon.mjs';
import { dataDir } from './lib/paths.mjs';
import { assertPortFree } from './lib/ports.mjs';

export const name = 'mariadb';
export const description = 'MariaDB 10.11 (Debian) with a ROW binlog for CDC, on 127.0.0.1:53306';

const HOST = '127.0.0.1';
const PORT = 53306;
const PASSWORD = 'datamesh';
const DATABASE = 'datamesh';

export const endpoint = { host: HOST, port: PORT, user: 'root', password: PASSWORD, database: DATABASE };

const BIN = {
  server: '/usr/sbin/mariadbd',
  installDb: '/usr/bin/mariadb-install-db',
  client: '/usr/bin/mariadb',
};

const dbDir = () => join(dataDir(name), 'db');
const socketPath = () => join(dataDir(name), 'mariadb.sock');

function installed() {
  return Object.values(BIN).every((bin) => existsSync(bin));
}

function serverVersion() {
  const { status, stdout, stderr } = capture(BIN.server, ['--version']);
  if (status !== 0) throw new ServiceError(`${BIN.server} --version exited with ${status}: ${stderr.trim()}`);
  // "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
  return /Ver\s+(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
}

export async function install() {
  if (installed()) {
    log(name, `already installed: ${serverVersion()} (${BIN.server})`);
    return;
  }
  log(name, 'mariadbd not found; installing the Debian mariadb-server package');
  aptInstall(name, ['mariadb-server']);
  const missing = Object.values(BIN).filter((bin) => !existsSync(bin));
  if (missing.length > 0) {
    throw new ServiceError(`mariadb-server installed but ${missing.join(', ')} still missing`);
  }
  log(name, `installed: ${serverVersion()} (${BIN.server})`);
}

/** Runs one statement over TCP as root; resolves the tab-separated rows, throws when it does not answer. */
function query(sql) {
  const { status, stdout, stderr } = capture(BIN.client, [
    '--no-defaults',
    '--protocol=TCP',
    `--host=${HOST}`,
    `--port=${PORT}`,
    '--user=root',
    `--password=${PASSWORD}`,
    '--connect-timeout=3',
    '--batch',
    '--skip-column-names',
    `--execute=${sql}`,
  ]);
  if (status !== 0) throw new ServiceError(stderr.trim() || `mariadb client exited with ${status}`);
  return stdout.trim();
}

function initDataDir() {
  log(name, `initialising a data folder in ${dbDir()}`);
  const { status, stdout, stderr } = capture(BIN.installDb, [
    '--no-defaults',
    `--datadir=${dbDir()}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  // Its output is a page of advice for production servers: shown only when it fails.
  if (status !== 0) {
    throw new ServiceError(`mariadb-install-db exited with ${status}:\n${stdout}${stderr}`);
  }
}

// Runs at every start, before connections are accepted: the root password for TCP and the test database.
// Idempotent, and kept out of the binlog so CDC readers only ever see what tests do.
function writeInitFile() {
  const file = join(dataDir(name), 'init.sql');
  const password = `'${PASSWORD}'`;
  writeFileSync(
    file,
    [
      'SET sql_log_bin = 0;',
      `ALTER USER 'root'@'localhost' IDENTIFIED BY ${password};`,
      `CREATE USER IF NOT EXISTS 'root'@'${HOST}' IDENTIFIED BY ${password};`,
      `ALTER USER 'root'@'${HOST}' IDENTIFIED BY ${password};`,
      `GRANT ALL PRIVILEGES ON *.* TO 'root'@'${HOST}' WITH GRANT OPTION;`,
      `CREATE DATABASE IF NOT EXISTS ${DATABASE};`,
      '',
    ].join('\n'),
  );
  return file;
}

function serverArgs(initFile) {
  return [
    '--no-defaults',
    '--user=root',
    `--datadir=${dbDir()}`,
    `--socket=${socketPath()}`,
    `--pid-file=${join(dbDir(), 'mariadbd.pid')}`,
    `--port=${PORT}`,
    `--bind-address=${HOST}`,
    // Users are matched on the literal 127.0.0.1, and no DNS look-up delays a connection.
    '--skip-name-resolve',
    `--init-file=${initFile}`,
    // Without /etc/mysql the compiled-in default would be latin1.
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_general_ci',
    '--server-id=1',
    '--log-bin=mariadb-bin',
    '--binlog-format=ROW',
    '--binlog-row-image=FULL',
    '--binlog-row-metadata=FULL',
    '--log-bin-compress=OFF',
  ];
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
  if (!existsSync(join(dbDir(), 'mysql'))) initDataDir();
  startDaemon(name, BIN.server, serverArgs(writeInitFile()));
  await waitUntilReady(name, `answers queries on ${HOST}:${PORT}`, answers);
}

export async function down() {
  // SIGTERM is mariadbd's normal shutdown.
  await stopDaemon(name, { timeoutMs: 60_000 });
}

export async function status() {
  if (!installed()) {
    return { ok: false, detail: `not installed (run: npm run services -- install ${name})` };
  }
  const pid = runningPid(name);
  if (pid === undefined) return { ok: false, detail: `not running (run: npm run services -- up ${name})` };
  try {
    const [version, binlogFormat] = query('SELECT VERSION(), @@binlog_format').split('\t');
    return { ok: true, detail: `${version} on ${HOST}:${PORT} (pid ${pid}, binlog_format=${binlogFormat})` };
  } catch (error) {
    return { ok: false, detail: `pid ${pid} runs but does not answer on ${HOST}:${PORT}: ${error.message}` };
  }
}
