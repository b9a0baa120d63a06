import type { DefaultPartitioner } from '../partitioner.js';
import type { ProduceRecord } from '../transport.js';
import type { PartitionLog } from './partition-log.js';
import type { RecordToEncode } from './record-codec.js';
import type { TopicRegistry } from './topic-registry.js';

const MAX_U16 = 0xffff;

/** The records of one `send()` (or one transaction) that go to one partition, in order. */
export interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  readonly log: PartitionLog;
  readonly records: RecordToEncode[];
  /** Where each record of the batch sits in the records given to `placeRecords`. */
  readonly positions: number[];
}

/**
 * Checks every record (topic, partition, key of a compacted topic, timestamp, headers) before any is written,
 * picks each one's partition and groups them per partition, keeping their order.
 */
export function placeRecords(
  topics: TopicRegistry,
  partitioner: DefaultPartitioner,
  records: readonly ProduceRecord[],
  firstPosition = 0,
): PartitionBatch[] {
  const batches = new Map<PartitionLog, PartitionBatch>();
  const now = Date.now();
  records.forEach((record, i) => {
    const topic = topics.get(record.topic);
    if (topic === undefined)
      throw new Error(`topic "${record.topic}" does not exist; create it with ensureTopic()`);
    const count = topic.config.partitions;
    const partition = record.partition ?? partitioner.partition(record.topic, record.key, count);
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new Error(
        `partition ${partition} is out of range for topic "${record.topic}" (${count} partitions)`,
      );
    }
    if (topic.config.compacted === true && record.key === null) {
      throw new Error(`topic "${record.topic}" is compacted: every record needs a key`);
    }
    const timestamp = record.timestamp ?? now;
    if (!Number.isSafeInteger(timestamp)) throw new Error(`invalid timestamp ${timestamp}`);
    if (record.headers !== undefined) checkHeaders(record.headers);
    const log = topic.logs[partition]!;
    let batch = batches.get(log);
    if (batch === undefined) {
      batch = { topic: record.topic, partition, log, records: [], positions: [] };
      batches.set(log, batch);
    }
    batch.records.push({ key: record.key, value: record.value, headers: record.headers, timestamp });
    batch.positions.push(firstPosition + i);
  });
  return [...batches.values()];
}

/** Joins batches per partition, keeping their order: a transaction's sends become one append per partition. */
export function mergeBatches(batches: readonly PartitionBatch[]): PartitionBatch[] {
  const merged = new Map<PartitionLog, PartitionBatch>();
  for (const batch of batches) {
    const into = merged.get(batch.log);
    if (into === undefined) {
      merged.set(batch.log, { ...batch, records: [...batch.records], positions: [...batch.positions] });
    } else {
      // Not push(...): a send can hold more records than a call can take arguments.
      for (const record of batch.records) into.records.push(record);
      for (const position of batch.positions) into.positions.push(position);
    }
  }
  return [...merged.values()];
}

function checkHeaders(headers: Readonly<Record<string, string>>): void {
  let count = 0;
  for (const name in headers) {
    count++;
    if (Buffer.byteLength(name) > MAX_U16) throw new Error(`header name longer than ${MAX_U16} bytes`);
    if (typeof headers[name] !== 'string') throw new Error(`header "${name}" must be a string`);
  }
  if (count > MAX_U16) throw new Error(`more than ${MAX_U16} headers on one record`);
}
