// vitest global setup: gives the run a file where useServices() records the services it started (and how
// long each took to get ready), then at the end prints those start-up times and stops what the run started —
// unless DATAMESH_KEEP_SERVICES=1. Services that were already running are left alone.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dataRoot } from '../services/lib/paths.mjs';
import { loadServices } from '../services/registry.mjs';

export default function setup() {
  mkdirSync(dataRoot, { recursive: true });
  const runFile = join(dataRoot, `run-${process.pid}.jsonl`);
  rmSync(runFile, { force: true });
  process.env.DATAMESH_SERVICES_RUN_FILE = runFile;

  return async function teardown() {
    if (!existsSync(runFile)) return;
    const started = readFileSync(runFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    rmSync(runFile, { force: true });
    if (started.length === 0) return;
    process.stdout.write(
      `\nservices started by this run (seconds until ready): ${started
        .map((s) => `${s.name} ${s.seconds.toFixed(1)}`)
        .join(', ')}\n`,
    );
    if (process.env.DATAMESH_KEEP_SERVICES === '1') return;
    const services = await loadServices(started.map((s) => s.name));
    for (const service of services.reverse()) await service.down();
  };
}
