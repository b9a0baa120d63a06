// What integration tests call to get the services they need:
//   const { kafka } = await useServices('kafka');
// Each named service is started unless it already answers (once per run, whichever test asks first; vitest
// workers take turns through a lock), and its endpoint is returned. Services this run started are stopped by
// the global teardown (tools/test/services-global-setup.mjs) unless DATAMESH_KEEP_SERVICES=1.
import { appendFileSync } from 'node:fs';
import { withServiceLock } from './lib/lock.mjs';
import { reserveHarnessPorts } from './lib/ports.mjs';
import { loadServices } from './registry.mjs';

export async function useServices(...names) {
  reserveHarnessPorts();
  const services = await loadServices(names);
  const endpoints = {};
  for (const service of services) {
    await withServiceLock(service.name, async () => {
      const { ok } = await service.status();
      if (ok) return;
      const started = Date.now();
      await service.up();
      const seconds = (Date.now() - started) / 1000;
      const runFile = process.env.DATAMESH_SERVICES_RUN_FILE;
      if (runFile) appendFileSync(runFile, `${JSON.stringify({ name: service.name, seconds })}\n`);
    });
    endpoints[service.name] = service.endpoint;
  }
  return endpoints;
}
