// Helpers shared by the service modules: finding binaries on PATH, running commands, installing Debian packages.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import process from 'node:process';

/** An error the CLI prints without a stack trace: the message says what went wrong and what to do. */
export class ServiceError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** Prints one progress line prefixed with the service name. */
export function log(service, message) {
  process.stdout.write(`[${service}] ${message}\n`);
}

/** The absolute path of `bin` on PATH, or undefined. */
export function findOnPath(bin) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a command, capturing its output. Never throws for a non-zero exit; inspect `status`. */
export function capture(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw new ServiceError(`could not run ${command}: ${result.error.message}`);
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command with its output streamed to ours; throws a ServiceError if it fails. */
export function run(command, args, env = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) throw new ServiceError(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new ServiceError(`\`${command} ${args.join(' ')}\` exited with ${result.status ?? result.signal}`);
  }
}

let aptUpdated = false;

/** True when apt knows an installable version of `pkg` (its package lists mention it). */
function aptHasCandidate(pkg) {
  const { status, stdout } = capture('apt-cache', ['policy', pkg]);
  const candidate = /Candidate:\s*(\S+)/.exec(stdout)?.[1];
  return status === 0 && candidate !== undefined && candidate !== '(none)';
}

/**
 * Installs Debian packages with apt-get, without their recommends. Runs `apt-get update` at most once per
 * process, and only when the package lists do not know one of the packages yet. Must run as root.
 */
export function aptInstall(service, packages) {
  if (!findOnPath('apt-get')) {
    throw new ServiceError(
      `apt-get not found: install ${packages.join(' ')} with your system's package manager`,
    );
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ServiceError(`installing ${packages.join(' ')} needs root (apt-get); run this command as root`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated && packages.some((pkg) => !aptHasCandidate(pkg))) {
    log(service, 'apt-get update');
    run('apt-get', ['update'], env);
    aptUpdated = true;
  }
  const missing = packages.filter((pkg) => !aptHasCandidate(pkg));
  if (missing.length > 0) throw new ServiceError(`apt has no package named ${missing.join(', ')}`);
  log(service, `apt-get install -y --no-install-recommends ${packages.join(' ')}`);
  run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], env);
}
