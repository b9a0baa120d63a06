import type { ConsumedRecord, Transport } from '../../transport.js';

/** Every record of `topic` now, through a new consumer group, in partition and offset order. */
export async function readAll(transport: Transport, topic: string): Promise<ConsumedRecord[]> {
  const consumer = transport.consumer({ group: `read-all-${Math.random()}`, topics: [topic] });
  const records: ConsumedRecord[] = [];
  try {
    for (;;) {
      const got = await consumer.poll({ maxRecords: 5000, maxWaitMs: 50 });
      if (got.length === 0) break;
      records.push(...got);
    }
  } finally {
    await consumer.close();
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
