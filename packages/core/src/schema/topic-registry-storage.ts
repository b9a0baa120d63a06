import { readToEnd } from '../transport/read-to-end.js';
import type { ProduceRecord, Producer, Transport } from '../transport/transport.js';
import type { CompatibilityMode } from './avro.js';
import type { RegistryChange, RegistrySnapshot, RegistryStorage, StoredVersion } from './registry-storage.js';
import { parseCompatibilityLevel } from './schema-registry.js';

/** The compacted topic a node's own schema registry lives in, on transports other than the embedded one. */
export const SCHEMAS_TOPIC = '__datamesh_schemas';

/**
 * Keeps the registry in a compacted, single-partition topic of the transport (as Confluent's registry keeps
 * `_schemas`), so on Kafka its state is as durable as the cluster. Keys and values are JSON:
 *
 * - `{"keytype":"SCHEMA","subject":s,"version":v}` → `{subject, version, id, schema, deleted}`; a tombstone
 *   once the version is deleted permanently;
 * - `{"keytype":"CONFIG","subject":s}` (`null` for the global level) → `{compatibilityLevel}`, or a tombstone;
 * - `{"keytype":"NEXT_ID"}` → `{nextId}`: never deleted, so ids stay unique after the versions that used the
 *   highest ones were deleted and compacted away. Every change set ends with it, so the topic's last record
 *   is never a tombstone compaction could remove.
 *
 * Opening replays the topic to its end and refuses to go on from less: a registry that missed records would
 * hand out their ids again. Later writes by another process are not seen (one registry owns the topic).
 */
export class TopicRegistryStorage implements RegistryStorage {
  readonly description: string;
  private readonly topic: string;
  private readonly records: ReadonlyMap<string, unknown>;
  private readonly producer: Producer;
  private nextId = 1;

  private constructor(topic: string, records: ReadonlyMap<string, unknown>, producer: Producer) {
    this.topic = topic;
    this.records = records;
    this.producer = producer;
    this.description = `topic ${topic}`;
  }

  static async open(transport: Transport, topic: string = SCHEMAS_TOPIC): Promise<TopicRegistryStorage> {
    await transport.ensureTopic(topic, { partitions: 1, compacted: true });
    const end = (await transport.describeTopic(topic))?.endOffsets[0] ?? 0;
    const records = new Map<string, unknown>();
    let last = -1;
    // A long idle wait: ending early would leave records unread, and the registry would reuse their ids.
    for await (const batch of readToEnd(transport, topic, { idleMs: 30_000 })) {
      for (const record of batch) {
        last = Math.max(last, record.offset);
        if (!record.key) continue;
        const key = record.key.toString('utf8');
        if (record.value === null) records.delete(key);
        else records.set(key, parseJson(record.value.toString('utf8'), key, `topic ${topic}`));
      }
    }
    if (last < end - 1)
      throw new Error(
        `read the schema registry's topic ${topic} only up to offset ${last} of ${end - 1}: the registry would ` +
          'hand out ids it gave before. Check that the transport can read the topic, then start again.',
      );
    return new TopicRegistryStorage(topic, records, transport.producer());
  }

  async load(): Promise<RegistrySnapshot> {
    let nextId = 1;
    let globalLevel: CompatibilityMode | undefined;
    const subjectLevels = new Map<string, CompatibilityMode>();
    const versions: StoredVersion[] = [];
    for (const [text, value] of this.records) {
      const key = parseKey(text, this.description);
      if (key.keytype === 'SCHEMA') versions.push(parseVersion(value, text, this.description));
      else if (key.keytype === 'CONFIG') {
        const level = parseCompatibilityLevel((value as { compatibilityLevel?: unknown }).compatibilityLevel);
        if (!level) throw unreadable(this.description, text, 'an unknown compatibility level');
        if (key.subject === null) globalLevel = level;
        else subjectLevels.set(key.subject, level);
      } else {
        const stored = (value as { nextId?: unknown }).nextId;
        if (!Number.isSafeInteger(stored)) throw unreadable(this.description, text, 'no integer nextId');
        nextId = stored as number;
      }
    }
    versions.sort((a, b) => a.id - b.id || a.version - b.version);
    this.nextId = Math.max(nextId, ...versions.map((v) => v.id + 1));
    return { nextId, versions, globalLevel, subjectLevels };
  }

  async write(changes: readonly RegistryChange[]): Promise<void> {
    // One send to the topic's single partition, in order: a next id before the version that takes it, so a
    // crash in between skips an id and never reuses one; the next id again last, so the topic never ends in
    // a tombstone.
    const records: ProduceRecord[] = [];
    for (const change of changes) {
      switch (change.kind) {
        case 'version': {
          const { subject, version, id, schema, deleted } = change.entry;
          records.push(this.record(schemaKey(subject, version), { subject, version, id, schema, deleted }));
          break;
        }
        case 'forget-version':
          records.push(this.record(schemaKey(change.subject, change.version), null));
          break;
        case 'config':
          records.push(
            this.record(
              JSON.stringify({ keytype: 'CONFIG', subject: change.subject }),
              change.level === null ? null : { compatibilityLevel: change.level },
            ),
          );
          break;
        case 'next-id':
          this.nextId = Math.max(this.nextId, change.nextId);
          records.push(this.record(NEXT_ID_KEY, { nextId: this.nextId }));
          break;
      }
    }
    records.push(this.record(NEXT_ID_KEY, { nextId: this.nextId }));
    await this.producer.send(records);
  }

  close(): Promise<void> {
    return this.producer.close();
  }

  private record(key: string, value: unknown): ProduceRecord {
    return {
      topic: this.topic,
      key: Buffer.from(key),
      value: value === null ? null : Buffer.from(JSON.stringify(value)),
      partition: 0,
    };
  }
}

const NEXT_ID_KEY = JSON.stringify({ keytype: 'NEXT_ID' });

function parseJson(text: string, key: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw unreadable(where, key, 'a value that is not JSON');
  }
}

function schemaKey(subject: string, version: number): string {
  return JSON.stringify({ keytype: 'SCHEMA', subject, version });
}

type Key = { keytype: 'SCHEMA' } | { keytype: 'CONFIG'; subject: string | null } | { keytype: 'NEXT_ID' };

function parseKey(text: string, where: string): Key {
  let key: { keytype?: unknown; subject?: unknown } | undefined;
  try {
    key = JSON.parse(text) as typeof key;
  } catch {
    // reported below
  }
  if (key?.keytype === 'SCHEMA' || key?.keytype === 'NEXT_ID') return key as Key;
  if (key?.keytype === 'CONFIG' && (key.subject === null || typeof key.subject === 'string'))
    return key as Key;
  throw unreadable(where, text, 'an unknown key');
}

function parseVersion(value: unknown, key: string, where: string): StoredVersion {
  const v = value as Partial<StoredVersion> | null;
  if (
    typeof v?.subject !== 'string' ||
    !Number.isSafeInteger(v.version) ||
    !Number.isSafeInteger(v.id) ||
    typeof v.schema !== 'string' ||
    typeof v.deleted !== 'boolean'
  )
    throw unreadable(where, key, 'not a schema version');
  return v as StoredVersion;
}

function unreadable(where: string, key: string, what: string): Error {
  return new Error(
    `the schema registry's ${where} holds a record with ${what} (key ${key}): only datamesh's registry may ` +
      'write to it. Remove the foreign records, or restore the topic from a backup.',
  );
}
