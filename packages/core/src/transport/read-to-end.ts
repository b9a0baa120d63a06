import type { ConsumedRecord, Transport } from './transport.js';

/**
 * Reads a topic from its beginning to its current end, batch by batch, without joining or committing
 * for any real consumer group (restoring state, inspecting a topic in a test or a tool).
 */
export async function* readToEnd(
  transport: Transport,
  topic: string,
  options: { readonly batchSize?: number; readonly group?: string } = {},
): AsyncGenerator<ConsumedRecord[]> {
  const consumer = transport.consumer({
    group: options.group ?? `__read-to-end.${topic}.${process.pid}.${Date.now()}`,
    topics: [topic],
    fromBeginning: true,
  });
  try {
    for (;;) {
      const records = await consumer.poll({ maxRecords: options.batchSize ?? 10_000, maxWaitMs: 0 });
      // Nothing more within a zero wait: the end of the topic as it was when reading reached it.
      if (records.length === 0) return;
      yield records;
    }
  } finally {
    await consumer.close();
  }
}
