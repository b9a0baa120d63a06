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
