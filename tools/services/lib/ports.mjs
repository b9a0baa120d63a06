// Checking a server's port before starting it, so a clash is reported with the port and who holds it instead
// of surfacing later as a bind error in the server's log.
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
