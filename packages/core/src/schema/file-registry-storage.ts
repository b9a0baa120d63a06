import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileDurably } from '../transport/embedded/durable-file.js';
import type { AvroSchema, CompatibilityMode } from './avro.js';
import { parseCompatibilityLevel } from './schema-registry.js';
import {
  EMPTY_SNAPSHOT,
  type RegistryChange,
  type RegistrySnapshot,
  type RegistryStorage,
  type StoredVersion,
} from './registry-storage.js';

/**
 * The file: `{ nextId, subjects: { <subject>: [{ version, id, schema, deleted? }] }, compatibility? }`, where
 * `schema` is the Avro schema as JSON. Files written before versions could be deleted have entries without
 * `version` (their position is the version) and read the same.
 */
interface StoredFile {
  nextId: number;
  subjects: Record<string, { version?: number; id: number; schema: AvroSchema; deleted?: boolean }[]>;
  compatibility?: { global?: CompatibilityMode; subjects?: Record<string, CompatibilityMode> };
}

/**
 * Keeps the registry in one JSON file, rewritten durably (temp file, fsync, rename, fsync of the folder) on
 * every change: for a node on the embedded transport, beside its log in the data dir.
 */
export class FileRegistryStorage implements RegistryStorage {
  readonly description: string;
  private readonly file: string;
  private readonly loaded: RegistrySnapshot;

  private constructor(file: string, loaded: RegistrySnapshot) {
    this.file = file;
    this.loaded = loaded;
    this.description = `file ${file}`;
  }

  /** Reads the file (none yet is an empty registry); a corrupt one is an error that names it. */
  static async open(file: string): Promise<FileRegistryStorage> {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return new FileRegistryStorage(file, text === undefined ? EMPTY_SNAPSHOT : parseFile(file, text));
  }

  async load(): Promise<RegistrySnapshot> {
    return this.loaded;
  }

  async write(_changes: readonly RegistryChange[], next: () => RegistrySnapshot): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await writeFileDurably(this.file, JSON.stringify(toFile(next())));
  }

  async close(): Promise<void> {}
}

function toFile(snapshot: RegistrySnapshot): StoredFile {
  const subjects: StoredFile['subjects'] = {};
  for (const v of snapshot.versions) {
    (subjects[v.subject] ??= []).push({
      version: v.version,
      id: v.id,
      schema: JSON.parse(v.schema) as AvroSchema,
      ...(v.deleted ? { deleted: true } : {}),
    });
  }
  const file: StoredFile = { nextId: snapshot.nextId, subjects };
  if (snapshot.globalLevel !== undefined || snapshot.subjectLevels.size > 0) {
    file.compatibility = {
      ...(snapshot.globalLevel ? { global: snapshot.globalLevel } : {}),
      ...(snapshot.subjectLevels.size > 0 ? { subjects: Object.fromEntries(snapshot.subjectLevels) } : {}),
    };
  }
  return file;
}

/** The stored registry, or an error that names the file and says what to do about it. */
function parseFile(file: string, text: string): RegistrySnapshot {
  let reason: string | undefined;
  let snapshot: RegistrySnapshot | undefined;
  try {
    snapshot = fromFile(JSON.parse(text));
  } catch (error) {
    reason = (error as Error).message;
  }
  if (!snapshot)
    throw new Error(
      `the schema registry file ${file} is corrupt (${reason}). It holds the Avro schemas the records in this ` +
        'data dir were written with: restore it from a backup. Deleting it leaves those records undecodable, so ' +
        'only delete it together with the rest of the data dir (the log and its topics) to start afresh.',
    );
  return snapshot;
}

function fromFile(value: unknown): RegistrySnapshot {
  const stored = value as Partial<StoredFile> | null;
  if (
    typeof stored !== 'object' ||
    stored === null ||
    Array.isArray(stored) ||
    !Number.isSafeInteger(stored.nextId) ||
    typeof stored.subjects !== 'object' ||
    stored.subjects === null
  )
    throw new Error('expected { "nextId": <integer>, "subjects": { … } }');
  const versions: StoredVersion[] = [];
  for (const [subject, entries] of Object.entries(stored.subjects)) {
    if (!Array.isArray(entries)) throw new Error(`subject "${subject}" is not a list of versions`);
    entries.forEach((entry, index) => {
      const version = entry.version ?? index + 1;
      if (!Number.isSafeInteger(entry.id) || !Number.isSafeInteger(version) || entry.schema === undefined)
        throw new Error(`version ${index + 1} of subject "${subject}" lacks an integer id or a schema`);
      versions.push({
        subject,
        version,
        id: entry.id,
        schema: JSON.stringify(entry.schema),
        deleted: entry.deleted === true,
      });
    });
  }
  const levels = stored.compatibility ?? {};
  const level = (v: unknown, where: string) => {
    const parsed = parseCompatibilityLevel(v);
    if (!parsed) throw new Error(`${where} has an unknown compatibility level ${JSON.stringify(v)}`);
    return parsed;
  };
  return {
    nextId: stored.nextId!,
    versions,
    globalLevel: levels.global === undefined ? undefined : level(levels.global, 'compatibility.global'),
    subjectLevels: new Map(
      Object.entries(levels.subjects ?? {}).map(([s, l]) => [s, level(l, `compatibility.subjects.${s}`)]),
    ),
  };
}
