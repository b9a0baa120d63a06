import type { ConsumedRecord, Transport } from './transport.js';

/**
 * Reads a topic from its beginning to its end as it was when reading started, batch by batch, without
 * joining or committing for any real consumer group (restoring state, inspecting a topic in a test or a
 * tool). A partition is done once its last offset was read. A transactional topic's end can be a commit
 * marker no consumer ever sees, and retention may have removed records: so a wait of `idleMs` without a
 * record also ends the read.
 */
export async function* readToEnd(
  transport: Transport,
  topic: string,
  options: { readonly batchSize?: number; readonly group?: string; readonly idleMs?: number } = {},
): AsyncGenerator<ConsumedRecord[]> {
  const ends = (await transport.describeTopic(topic))?.endOffsets ?? [];
  const unfinished = new Map<number, number>();
  ends.forEach((end, partition) => {
    if (end > 0) unfinished.set(partition, end);
  });
  if (unfinished.size === 0) return;
  const consumer = transport.consumer({
    group: options.group ?? `__read-to-end.${topic}.${process.pid}.${Date.now()}`,
    topics: [topic],
    fromBeginning: true,
  });
  try {
    while (unfinished.size > 0) {
      const records = await consumer.poll({
        maxRecords: options.batchSize ?? 10_000,
        maxWaitMs: options.idleMs ?? 1000,
      });
      if (records.length === 0) return;
      for (const r of records) {
        const end = unfinished.get(r.partition);
        if (end !== undefined && r.offset >= end - 1) unfinished.delete(r.partition);
      }
      yield records;
    }
  } finally {
    await consumer.close();
  }
}
