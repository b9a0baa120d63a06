import type { Producer, ProduceRecord, RecordMetadata } from '../transport.js';
import type { DefaultPartitioner } from '../partitioner.js';
import type { PartitionLog } from './partition-log.js';
import type { RecordToEncode } from './record-codec.js';
import type { TopicRegistry } from './topic-registry.js';

const MAX_U16 = 0xffff;

interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  readonly log: PartitionLog;
  readonly records: RecordToEncode[];
  /** Where each record of the batch sits in the `send()` argument. */
  readonly positions: number[];
}

/**
 * Validates a whole `send()` before writing any of it, then appends each partition's records as one write.
 * Resolves once every record is in its segment file (see `FsyncPolicy` for what that survives).
 */
export class EmbeddedProducer implements Producer {
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  private readonly topics: TopicRegistry;
  private readonly partitioner: DefaultPartitioner;
  private readonly readOnly: boolean;
  private readonly onClose: (producer: EmbeddedProducer) => void;

  constructor(
    topics: TopicRegistry,
    partitioner: DefaultPartitioner,
    readOnly: boolean,
    onClose: (producer: EmbeddedProducer) => void,
  ) {
    this.topics = topics;
    this.partitioner = partitioner;
    this.readOnly = readOnly;
    this.onClose = onClose;
  }

  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    if (this.closed) return Promise.reject(new Error('the producer is closed'));
    if (this.readOnly) return Promise.reject(new Error('cannot send: the transport was opened read-only'));
    let batches: PartitionBatch[];
    try {
      batches = this.group(records);
    } catch (error) {
      return Promise.reject(error);
    }
    const result = new Array<RecordMetadata>(records.length);
    const sent = Promise.all(
      batches.map(async (batch) => {
        const base = await batch.log.append(batch.records);
        batch.positions.forEach((position, i) => {
          result[position] = { topic: batch.topic, partition: batch.partition, offset: base + i };
        });
      }),
    ).then(() => result);
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent)).catch(() => undefined);
    return sent;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.onClose(this);
  }

  private group(records: readonly ProduceRecord[]): PartitionBatch[] {
    const batches = new Map<PartitionLog, PartitionBatch>();
    const now = Date.now();
    records.forEach((record, position) => {
      const topic = this.topics.get(record.topic);
      if (topic === undefined)
        throw new Error(`topic "${record.topic}" does not exist; create it with ensureTopic()`);
      const count = topic.config.partitions;
      const partition = record.partition ?? this.partitioner.partition(record.topic, record.key, count);
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
      batch.positions.push(position);
    });
    return [...batches.values()];
  }
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
