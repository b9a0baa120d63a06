import { readToEnd } from '../transport/read-to-end.js';
import type { ProduceRecord, Producer, Transport } from '../transport/transport.js';

/**
 * A map kept in a compacted topic: every write is appended to the topic before the call returns,
 * and opening replays the topic. Backs task state stores and source checkpoints, so both survive
 * restarts and can move to another node with the transport.
 */
export class ChangelogMap {
  private readonly values = new Map<string, unknown>();
  private readonly topic: string;
  private readonly producer: Producer;

  private readonly transport: Transport;
  /** Keys whose last write may or may not have taken effect (a failed transaction commit). */
  private readonly stale = new Set<string>();

  private constructor(transport: Transport, topic: string, producer: Producer) {
    this.transport = transport;
    this.topic = topic;
    this.producer = producer;
  }

  static async open(transport: Transport, topic: string): Promise<ChangelogMap> {
    await transport.ensureTopic(topic, { partitions: 1, compacted: true });
    const map = new ChangelogMap(transport, topic, transport.producer());
    await map.replay();
    return map;
  }

  private async replay(only?: string): Promise<void> {
    for await (const records of readToEnd(this.transport, this.topic, {
      group: `${this.topic}.restore.${process.pid}.${Date.now()}`,
    })) {
      for (const record of records) {
        if (!record.key) continue;
        const key = record.key.toString('utf8');
        if (only !== undefined && key !== only) continue;
        if (record.value === null) this.values.delete(key);
        else this.values.set(key, JSON.parse(record.value.toString('utf8')));
      }
    }
  }

  /**
   * Notes that a transaction writing `key` failed at its commit: the broker may have committed it or not
   * (the answer was lost), so the next `current(key)` reads the topic again rather than trust memory.
   */
  markUncertain(key: string): void {
    this.stale.add(key);
  }

  /** The value of `key`, read again from the topic first if its last write is uncertain. */
  async current<T = unknown>(key: string): Promise<T | undefined> {
    if (this.stale.has(key)) {
      this.values.delete(key);
      await this.replay(key);
      this.stale.delete(key);
    }
    return this.get<T>(key);
  }

  get<T = unknown>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.producer.send([this.recordOf(key, value)]);
    this.values.set(key, value);
  }

  /** The record `put` would append, for a caller that writes it inside its own transaction. */
  recordOf(key: string, value: unknown): ProduceRecord {
    return { topic: this.topic, key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) };
  }

  /** Takes note of a value whose record (from `recordOf`) the caller's committed transaction wrote. */
  written(key: string, value: unknown): void {
    this.values.set(key, value);
  }

  async delete(key: string): Promise<void> {
    await this.producer.send([{ topic: this.topic, key: Buffer.from(key), value: null }]);
    this.values.delete(key);
  }

  entries(prefix = ''): IterableIterator<[string, unknown]> {
    const all = [...this.values.entries()].filter(([k]) => k.startsWith(prefix));
    return all[Symbol.iterator]();
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
