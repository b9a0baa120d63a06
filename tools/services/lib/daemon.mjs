// Starting and stopping long-running servers: detached from the caller, output to a log file, the pid in a
// file, readiness checked by really talking to the server (a TCP connect or an HTTP answer).
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, log } from './system.mjs';
import { dataDir, logDir } from './paths.mjs';

function pidFile(service) {
  return join(dataDir(service), 'pid');
}

/** True when a process with this pid exists (signal 0 probes without signalling). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** The pid of the service's running server, or undefined (a stale pid file is removed). */
export function runningPid(service) {
  const file = pidFile(service);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  rmSync(file, { force: true });
  return undefined;
}

/** The service's current log file. */
export function logFile(service) {
  return join(logDir(service), `${service}.log`);
}

/** The last `lines` lines of the service's log, for error messages. */
export function logTail(service, lines = 30) {
  const file = logFile(service);
  if (!existsSync(file)) return '(no log)';
  const text = readFileSync(file, 'utf8');
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts `command` detached, appending its output to the service's log, and records its pid.
 * The previous log is rotated to `<service>.log.1` so the last failed run's output is still there.
 */
export function startDaemon(service, command, args, { env = {}, cwd } = {}) {
  const file = logFile(service);
  if (existsSync(file) && statSync(file).size > 0) renameSync(file, `${file}.1`);
  const out = openSync(file, 'w');
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new ServiceError(`could not start ${command} for ${service}`);
  writeFileSync(pidFile(service), `${child.pid}\n`);
  log(service, `started pid ${child.pid}; log: ${file}`);
  return child.pid;
}

/** Records a pid the service started some other way (e.g. pg_ctl daemonizes itself). */
export function recordPid(service, pid) {
  writeFileSync(pidFile(service), `${pid}\n`);
}

/** Sends `signal` (SIGTERM), waits up to `timeoutMs` for the process to exit, then SIGKILLs it. */
export async function stopDaemon(service, { timeoutMs = 30_000, signal = 'SIGTERM' } = {}) {
  const pid = runningPid(service);
  if (pid === undefined) {
    log(service, 'not running');
    return;
  }
  log(service, `stopping pid ${pid}`);
  signalGroup(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) {
    log(service, `still running after ${timeoutMs} ms; killing`);
    signalGroup(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(100);
  }
  rmSync(pidFile(service), { force: true });
  log(service, 'stopped');
}

// Detached children lead their own process group: signalling the group also reaches what they spawned.
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Resolves true when a TCP connection to host:port succeeds within `timeoutMs`. */
export function canConnect(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls `check` (an async function resolving truthy when ready) until it holds, failing after `timeoutMs`
 * with the tail of the service's log — or at once if the server's process died.
 */
export async function waitUntilReady(service, what, check, { timeoutMs = 120_000, intervalMs = 500 } = {}) {
  const started = Date.now();
  for (;;) {
    let ready = false;
    try {
      ready = Boolean(await check());
    } catch {
      ready = false;
    }
    if (ready) {
      log(service, `ready: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return Date.now() - started;
    }
    const pid = runningPid(service);
    if (pid === undefined) {
      throw new ServiceError(
        `${service} exited before ${what}; last lines of ${logFile(service)}:\n${logTail(service)}`,
      );
    }
    if (Date.now() - started > timeoutMs) {
      throw new ServiceError(
        `${service} did not get ready (${what}) within ${timeoutMs / 1000} s; last lines of ${logFile(service)}:\n${logTail(service)}`,
      );
    }
    await sleep(intervalMs);
  }
}

/**
 * When the service's daemon already runs: answers true once it is ready (waiting for it if it is still
 * starting). False when none runs, for the caller to start one.
 */
export async function runningAndReady(service, where, what, ready, { timeoutMs = 120_000 } = {}) {
  const pid = runningPid(service);
  if (pid === undefined) return false;
  if (await ready()) {
    log(service, `already running (pid ${pid}) at ${where}`);
    return true;
  }
  log(service, `pid ${pid} is running but not ready yet; waiting`);
  await waitUntilReady(service, what, ready, { timeoutMs });
  return true;
}

/** GETs `url`; resolves { status, body } or undefined when nothing answers. */
export async function httpGet(url, { timeoutMs = 2000, headers = {} } = {}) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

/**
 * When the service's recorded server runs: returns true once it answers (waiting for one that another
 * caller started moments ago and is still starting, rather than starting a second). False when none runs.
 */
export async function usingRunningServer(service, where, answers) {
  const pid = runningPid(service);
  if (pid === undefined) return false;
  if (await answers()) {
    log(service, `already running (pid ${pid}) on ${where}`);
    return true;
  }
  await waitUntilReady(service, `pid ${pid} (started earlier) answers on ${where}`, answers);
  return true;
}
