import { readToEnd } from '../transport/read-to-end.js';
import type { Producer, Transport } from '../transport/transport.js';

export const CATALOG_TOPIC = '__datamesh_catalog';

/** What writes a catalogued topic: a source's stream, a shared processor output, or a sink's output topic. */
export type CatalogEntryKind = 'source' | 'processor' | 'sink';

/**
 * A topic other pipelines and teams can consume: who writes it, who owns it, what it holds, and the
 * registry subjects of its schemas.
 */
export interface CatalogEntry {
  readonly topic: string;
  readonly kind: CatalogEntryKind;
  readonly pipeline: string;
  readonly stage: string;
  readonly plugin: string;
  readonly owner?: string;
  readonly description?: string;
  /** Registry subjects of the key and value schemas (absent for a sink writing JSON). */
  readonly keySubject?: string;
  readonly valueSubject?: string;
  /** How the records are encoded: Avro in the Confluent wire format, or JSON. */
  readonly format: 'avro' | 'json';
}

/**
 * The catalog of topics, kept in a compacted topic of the transport keyed by topic name, so every node
 * and tool on the same transport sees every pipeline's entries. Nodes publish the entries of the
 * pipelines they run when they start; readers read the topic to its end each time (it is small).
 */
export class TopicCatalog {
  private readonly transport: Transport;
  private readonly producer: Producer;

  private constructor(transport: Transport, producer: Producer) {
    this.transport = transport;
    this.producer = producer;
  }

  static async open(transport: Transport): Promise<TopicCatalog> {
    await transport.ensureTopic(CATALOG_TOPIC, { partitions: 1, compacted: true });
    return new TopicCatalog(transport, transport.producer());
  }

  /** Writes the entries (compaction keeps the newest per topic). */
  async publish(entries: readonly CatalogEntry[]): Promise<void> {
    if (entries.length > 0) {
      await this.producer.send(
        entries.map((e) => ({
          topic: CATALOG_TOPIC,
          key: Buffer.from(e.topic),
          value: Buffer.from(JSON.stringify(e)),
        })),
      );
    }
  }

  /** Every entry, by topic name. */
  async list(): Promise<CatalogEntry[]> {
    const entries = new Map<string, CatalogEntry>();
    // The embedded log cannot say where a topic ends; its reads are local, so a short quiet spell is the end.
    const idleMs = this.transport.kind === 'embedded' ? 200 : 1000;
    for await (const records of readToEnd(this.transport, CATALOG_TOPIC, { idleMs })) {
      for (const record of records) {
        if (!record.key) continue;
        const topic = record.key.toString('utf8');
        if (record.value === null) entries.delete(topic);
        else entries.set(topic, JSON.parse(record.value.toString('utf8')) as CatalogEntry);
      }
    }
    return [...entries.values()].sort((a, b) => a.topic.localeCompare(b.topic));
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
