// Checking a server's port before starting it, so a clash is reported with the port and who holds it instead
// of surfacing later as a bind error in the server's log.
import { readFileSync, writeFileSync } from 'node:fs';
import { canConnect } from './daemon.mjs';
import { ServiceError, capture } from './system.mjs';

/** "name (pid N)" of the process listening on `port`, when `ss` can tell (it needs iproute2 and root). */
function listenerOf(port) {
  try {
    const { status, stdout } = capture('ss', ['-Hltnp', `sport = :${port}`]);
    const found = status === 0 ? /users:\(\("([^"]+)",pid=(\d+)/.exec(stdout) : null;
    return found ? `${found[1]} (pid ${found[2]})` : undefined;
  } catch {
    return undefined;
  }
}

/** Throws a ServiceError naming the port and its holder when something already answers on host:port. */
export async function assertPortFree(service, port, host = '127.0.0.1') {
  if (!(await canConnect(port, host))) return;
  const holder = listenerOf(port) ?? 'another process';
  throw new ServiceError(
    `cannot start ${service}: ${host}:${port} is already in use by ${holder}, which this harness did not ` +
      `start. Stop that process or free the port (see: ss -ltnp 'sport = :${port}'), then run up again.`,
  );
}

/**
 * Every fixed port the services listen on. They lie inside Linux's ephemeral range (32768–60999), so an
 * outgoing connection of any process could be handed one as its local port and make a server's bind fail.
 */
const HARNESS_PORTS = [
  '53306',
  '54873',
  '55432-55434',
  '57000-57001',
  '58181',
  '59042',
  '59092-59097',
  '59200-59201',
  '59300-59301',
];
const RESERVED_PORTS_FILE = '/proc/sys/net/ipv4/ip_local_reserved_ports';

/**
 * Asks the kernel never to hand the harness's ports out as ephemeral ports (needs root; skipped quietly
 * without it, or where the file does not exist).
 */
export function reserveHarnessPorts() {
  try {
    const current = readFileSync(RESERVED_PORTS_FILE, 'utf8').trim();
    const have = new Set(current ? current.split(',') : []);
    const missing = HARNESS_PORTS.filter((p) => !have.has(p));
    if (missing.length === 0) return;
    writeFileSync(RESERVED_PORTS_FILE, [...have, ...missing].join(','));
  } catch {
    // not root, or not Linux: the ports stay as they are
  }
}
