// Every service the harness knows, in start order. Each is a module in this folder named after it, exporting
// { name, description, endpoint, install(), up(), down(), status() }; status() resolves to { ok, detail }.
import { ServiceError } from './lib/system.mjs';

const MODULES = {
  prometheus: () => import('./prometheus.mjs'),
  postgres: () => import('./postgres.mjs'),
  'postgres-latest': () => import('./postgres-latest.mjs'),
  'postgres-replica': () => import('./postgres-replica.mjs'),
  mariadb: () => import('./mariadb.mjs'),
  kafka: () => import('./kafka.mjs'),
  opensearch: () => import('./opensearch.mjs'),
  elasticsearch: () => import('./elasticsearch.mjs'),
  'iceberg-rest': () => import('./iceberg-rest.mjs'),
  cassandra: () => import('./cassandra.mjs'),
  verdaccio: () => import('./verdaccio.mjs'),
};

export const SERVICE_NAMES = Object.keys(MODULES);

/** Loads the modules of `names` (all when empty), in start order; unknown names are a clear error. */
export async function loadServices(names = []) {
  const unknown = names.filter((n) => !SERVICE_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new ServiceError(`unknown service ${unknown.join(', ')}; known: ${SERVICE_NAMES.join(', ')}`);
  }
  const selected = names.length === 0 ? SERVICE_NAMES : SERVICE_NAMES.filter((n) => names.includes(n));
  return Promise.all(selected.map((n) => MODULES[n]()));
}
