// PostgreSQL 15 from Debian, set up for logical replication (wal_level=logical, room for 20 slots and senders),
// in its own cluster: data folder, port and socket of its own. The Debian package's `main` cluster (5432) is
// neither used nor touched. How the cluster is made, started and stopped is in lib/postgres-cluster.mjs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceError, aptInstall, log } from './lib/system.mjs';
import { postgresCluster, serverVersion } from './lib/postgres-cluster.mjs';

// Debian keeps the server binaries off PATH.
const PGBIN = '/usr/lib/postgresql/15/bin';
const SERVER = join(PGBIN, 'postgres');
const INITDB = join(PGBIN, 'initdb');

const installed = () => existsSync(SERVER) && existsSync(INITDB);

/** @type {import('./lib/postgres-cluster.mjs').PostgresBinaries} */
const debianBinaries = {
  server: () => SERVER,
  initdb: () => INITDB,
  installed,
  missing: 'run: npm run services -- install postgres',
  async install(service) {
    if (installed()) {
      log(service, `already installed: ${serverVersion(SERVER)} (${PGBIN})`);
      return;
    }
    log(service, `${SERVER} not found; installing the Debian postgresql-15 package`);
    aptInstall(service, ['postgresql-15']);
    if (!installed())
      throw new ServiceError(`postgresql-15 installed but ${SERVER} or ${INITDB} still missing`);
    log(service, `installed: ${serverVersion(SERVER)} (${PGBIN})`);
  },
};

export const { name, description, endpoint, install, up, down, status } = postgresCluster({
  name: 'postgres',
  description: 'PostgreSQL 15 (Debian) with wal_level=logical for CDC, on 127.0.0.1:55432',
  port: 55432,
  binaries: debianBinaries,
  settings: { wal_level: 'logical', max_replication_slots: 20, max_wal_senders: 20 },
});
