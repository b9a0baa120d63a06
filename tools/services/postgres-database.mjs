import pg from 'pg';

/**
 * A database of its own on one of the harness's Postgres servers, for one test file: created now, and dropped by
 * `drop()` together with its replication slots (a forgotten slot keeps WAL forever), whatever still uses them.
 */
export async function createDatabase(endpoint, prefix) {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  await asSuperuser(endpoint, (admin) => admin.query(`CREATE DATABASE ${name}`));
  return {
    name,
    drop: () =>
      asSuperuser(endpoint, async (admin) => {
        await admin.query(
          `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
          [name],
        );
        await admin.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
          [name],
        );
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

async function asSuperuser(endpoint, work) {
  const admin = new pg.Client({ connectionString: endpoint.connectionString });
  await admin.connect();
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}
