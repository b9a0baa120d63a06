/** The pipeline `mesh demo` runs: generated orders, e-mails masked, written to a JSON Lines file. */
export function demoPipeline(options: { rate: number; outFile: string }) {
  return {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name: 'demo',
    description: 'Generated orders with masked e-mail addresses, landed in a JSON Lines file.',
    sources: [
      { name: 'orders', plugin: 'datagen', config: { rate: options.rate, batchSize: 100, keys: 1000 } },
    ],
    processors: [
      {
        name: 'mask-emails',
        plugin: 'mask',
        inputs: ['orders'],
        config: { fields: ['email'], method: 'hash' },
      },
    ],
    sinks: [
      { name: 'orders-file', plugin: 'file', inputs: ['mask-emails'], config: { path: options.outFile } },
    ],
  };
}

/**
 * The pipeline `mesh demo --source postgres` runs: the shop's customers and orders captured from Postgres
 * (snapshot, then logical replication), customers' e-mail addresses masked, both landed in one JSON Lines file.
 */
export function demoPostgresPipeline(options: {
  postgres: { host: string; port: number; database: string; user: string; password: string };
  tables: readonly string[];
  outFile: string;
}) {
  return {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name: 'demo-postgres',
    description:
      'Customers and orders captured from Postgres, e-mail addresses masked, landed in a JSON Lines file.',
    sources: [
      {
        name: 'postgres',
        plugin: 'postgres',
        config: {
          ...options.postgres,
          tables: [...options.tables],
          slot: 'mesh_demo',
          publication: 'mesh_demo',
          // Amounts as text in the file ("129.90"), not as Avro decimal bytes.
          decimalHandling: 'string',
        },
      },
    ],
    processors: [
      {
        name: 'mask-emails',
        plugin: 'mask',
        inputs: ['postgres/shop.customers'],
        config: { fields: ['email'], method: 'hash' },
      },
    ],
    sinks: [
      {
        name: 'shop-file',
        plugin: 'file',
        inputs: ['mask-emails', 'postgres/shop.orders'],
        config: { path: options.outFile },
      },
    ],
  };
}
