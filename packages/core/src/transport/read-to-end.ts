import type { ConsumedRecord, Transport } from './transport.js';

/**
 * Reads a topic from its beginning to its end as it was when reading started, batch by batch, without
 * joining or committing for any real consumer group (restoring state, inspecting a topic in a test or a
 * tool). A partition is done once its last offset was read. A transactional topic's end is a commit marker
 * no consumer ever sees: a consumer that can tell (`readUpTo`, Kafka) says when it passed it; with one that
 * cannot, a wait of `idleMs` without a record ends the read (records removed by retention end it so too).
 * A consumer that can tell but stalls for `stallMs` is an error, never a silently partial read.
 */
export async function* readToEnd(
  transport: Transport,
  topic: string,
  options: {
    readonly batchSize?: number;
    readonly group?: string;
    readonly idleMs?: number;
    readonly stallMs?: number;
  } = {},
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
  const stallMs = options.stallMs ?? 60_000;
  let lastProgress = Date.now();
  try {
    while (unfinished.size > 0) {
      const idleMs = options.idleMs ?? 1000;
      const records = await consumer.poll({
        maxRecords: options.batchSize ?? 10_000,
        // A consumer that can tell where it is gets asked again soon rather than waited on.
        maxWaitMs: consumer.readUpTo ? Math.min(idleMs, 200) : idleMs,
      });
      for (const r of records) {
        const end = unfinished.get(r.partition);
        if (end !== undefined && r.offset >= end - 1) unfinished.delete(r.partition);
      }
      if (records.length > 0) {
        lastProgress = Date.now();
        yield records;
      }
      if (!consumer.readUpTo) {
        if (records.length === 0) return;
        continue;
      }
      if (consumer.readUpTo(topic, ends)) return;
      if (Date.now() - lastProgress > stallMs) {
        throw new Error(
          `reading topic "${topic}" to its end stalled: no progress for ${stallMs / 1000} s with partitions ${[...unfinished.keys()].join(', ')} unfinished`,
        );
      }
    }
  } finally {
    await consumer.close();
  }
}
