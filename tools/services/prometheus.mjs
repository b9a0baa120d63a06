// Prometheus tooling from Debian. Rule tests need only the `promtool` binary, so there is no server to run:
// `up` makes sure promtool is installed and `down` has nothing to stop.
import { ServiceError, aptInstall, capture, findOnPath, log } from './lib/system.mjs';

export const name = 'prometheus';
export const endpoint = {};
export const description = 'promtool (rule checks and rule unit tests), from the Debian prometheus package';

function promtoolVersion() {
  const promtool = findOnPath('promtool');
  if (!promtool) return undefined;
  const { status, stdout, stderr } = capture(promtool, ['--version']);
  if (status !== 0) throw new ServiceError(`${promtool} --version exited with ${status}: ${stderr.trim()}`);
  // "promtool, version 2.42.0+ds (branch: …, revision: …)"
  const firstLine = (stdout || stderr).split('\n')[0]?.trim() ?? '';
  return { path: promtool, version: firstLine };
}

export async function install() {
  const found = promtoolVersion();
  if (found) {
    log(name, `already installed: ${found.version} (${found.path})`);
    return;
  }
  log(name, 'promtool not on PATH; installing the Debian prometheus package');
  aptInstall(name, ['prometheus']);
  const installed = promtoolVersion();
  if (!installed) {
    throw new ServiceError(
      'the prometheus package installed but promtool is still not on PATH (expected /usr/bin/promtool)',
    );
  }
  log(name, `installed: ${installed.version} (${installed.path})`);
}

export async function up() {
  await install();
  log(name, 'ready: promtool needs no running server');
}

export async function down() {
  log(name, 'nothing to stop: no server is run for promtool');
}

export async function status() {
  const found = promtoolVersion();
  if (!found) {
    return { ok: false, detail: 'promtool not installed (run: npm run services -- install prometheus)' };
  }
  return { ok: true, detail: `${found.version} (${found.path})` };
}
