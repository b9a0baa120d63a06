import { ChangelogMap } from '../state/changelog-map.js';
import type { Transport } from '../transport/transport.js';
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
 *   highest ones were deleted and compacted away.
 *
 * Opening replays the topic; later writes by another process are not seen (one registry owns the topic).
 */
export class TopicRegistryStorage implements RegistryStorage {
  readonly description: string;
  private readonly map: ChangelogMap;

  private constructor(topic: string, map: ChangelogMap) {
    this.map = map;
    this.description = `topic ${topic}`;
  }

  static async open(transport: Transport, topic: string = SCHEMAS_TOPIC): Promise<TopicRegistryStorage> {
    return new TopicRegistryStorage(topic, await ChangelogMap.open(transport, topic));
  }

  async load(): Promise<RegistrySnapshot> {
    let nextId = 1;
    let globalLevel: CompatibilityMode | undefined;
    const subjectLevels = new Map<string, CompatibilityMode>();
    const versions: StoredVersion[] = [];
    for (const [text, value] of this.map.entries()) {
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
    return { nextId, versions, globalLevel, subjectLevels };
  }

  async write(changes: readonly RegistryChange[]): Promise<void> {
    // In order, each durable before the next: a crash in between leaves a next id already taken (an id is
    // skipped, never reused) or a version without the cleanup that followed it.
    for (const change of changes) {
      switch (change.kind) {
        case 'version': {
          const { subject, version, id, schema, deleted } = change.entry;
          await this.map.put(schemaKey(subject, version), { subject, version, id, schema, deleted });
          break;
        }
        case 'forget-version':
          await this.map.delete(schemaKey(change.subject, change.version));
          break;
        case 'config': {
          const key = JSON.stringify({ keytype: 'CONFIG', subject: change.subject });
          if (change.level === null) await this.map.delete(key);
          else await this.map.put(key, { compatibilityLevel: change.level });
          break;
        }
        case 'next-id':
          await this.map.put(JSON.stringify({ keytype: 'NEXT_ID' }), { nextId: change.nextId });
          break;
      }
    }
  }

  close(): Promise<void> {
    return this.map.close();
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
