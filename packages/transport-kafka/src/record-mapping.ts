import type { ConsumedRecord, Headers, ProduceRecord } from '@datamesh/core';
import { partitionForKey } from '@datamesh/core';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';

export function toKafkaMessage(record: ProduceRecord, partition: number): Message {
  const message: Message = { key: record.key, value: record.value, partition };
  if (record.headers) message.headers = { ...record.headers };
  if (record.timestamp !== undefined) message.timestamp = String(record.timestamp);
  return message;
}

export function fromKafkaMessage(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    key: message.key,
    value: message.value,
    headers: decodeHeaders(message.headers),
  };
}

function decodeHeaders(headers: IHeaders | undefined): Headers {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    // A header repeated on the record arrives as an array; the transport contract keeps one value per name.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
  }
  return out;
}

/**
 * Chooses partitions like the embedded transport and Kafka's Java client: murmur2 of the key, round-robin for
 * records without a key, the record's own partition when it names one.
 */
export class Partitioner {
  private readonly roundRobin = new Map<string, number>();

  partitionOf(record: ProduceRecord, partitions: number): number {
    if (record.partition !== undefined) {
      if (record.partition < 0 || record.partition >= partitions) {
        throw new Error(
          `topic "${record.topic}" has ${partitions} partitions; record names partition ${record.partition}`,
        );
      }
      return record.partition;
    }
    if (record.key !== null) return partitionForKey(record.key, partitions);
    const next = this.roundRobin.get(record.topic) ?? 0;
    this.roundRobin.set(record.topic, next + 1);
    return next % partitions;
  }
}
