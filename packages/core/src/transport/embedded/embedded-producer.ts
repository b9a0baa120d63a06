import type { Producer, ProduceRecord, RecordMetadata } from '../transport.js';
import type { DefaultPartitioner } from '../partitioner.js';
import type { AppendGate } from './append-gate.js';
import { placeRecords, type PartitionBatch } from './record-placement.js';
import type { TopicRegistry } from './topic-registry.js';

export interface EmbeddedProducerParts {
  readonly topics: TopicRegistry;
  readonly partitioner: DefaultPartitioner;
  readonly readOnly: boolean;
  /** Plain appends hold it shared; a transaction's commit holds it alone. */
  readonly gate: AppendGate;
  /** Throws when the log must be reopened before it takes writes again. */
  readonly assertWritable: () => void;
  readonly onClose: (producer: EmbeddedProducer) => void;
}

/**
 * Validates a whole `send()` before writing any of it, then appends each partition's records as one write.
 * Resolves once every record is in its segment file (see `FsyncPolicy` for what that survives).
 */
export class EmbeddedProducer implements Producer {
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  private readonly parts: EmbeddedProducerParts;

  constructor(parts: EmbeddedProducerParts) {
    this.parts = parts;
  }

  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    if (this.closed) return Promise.reject(new Error('the producer is closed'));
    if (this.parts.readOnly)
      return Promise.reject(new Error('cannot send: the transport was opened read-only'));
    let batches: PartitionBatch[];
    try {
      this.parts.assertWritable();
      batches = placeRecords(this.parts.topics, this.parts.partitioner, records);
    } catch (error) {
      return Promise.reject(error);
    }
    const result = new Array<RecordMetadata>(records.length);
    const sent = this.parts.gate
      .shared(() =>
        Promise.all(
          batches.map(async (batch) => {
            const base = await batch.log.append(batch.records);
            batch.positions.forEach((position, i) => {
              result[position] = { topic: batch.topic, partition: batch.partition, offset: base + i };
            });
          }),
        ),
      )
      .then(() => result);
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent)).catch(() => undefined);
    return sent;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.parts.onClose(this);
  }
}
