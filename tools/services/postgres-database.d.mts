import type { ServiceEndpoints } from './testing.mjs';

/**
 * A database of its own on one of the harness's Postgres servers, for one test file: created now, and dropped by
 * `drop()` together with its replication slots (a forgotten slot keeps WAL forever), whatever still uses them.
 */
export function createDatabase(
  endpoint: ServiceEndpoints['postgres'],
  prefix: string,
): Promise<{ readonly name: string; drop(): Promise<void> }>;
