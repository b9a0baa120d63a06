import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RegisteredSchema, SchemaAccess } from '../contract/context.js';
import { writeFileDurably } from '../transport/embedded/durable-file.js';
import { avroType, checkCompatibility, type AvroSchema, type CompatibilityMode } from './avro.js';

/** Raised when a new schema version breaks the subject's compatibility mode. */
export class IncompatibleSchemaError extends Error {
  readonly subject: string;
  readonly messages: readonly string[];
  constructor(subject: string, mode: CompatibilityMode, messages: readonly string[]) {
    super(
      `schema for subject "${subject}" is not ${mode}-compatible with earlier versions:\n  - ${messages.join('\n  - ')}`,
    );
    this.name = 'IncompatibleSchemaError';
    this.subject = subject;
    this.messages = messages;
  }
}

interface Stored {
  nextId: number;
  subjects: Record<string, { id: number; schema: AvroSchema }[]>;
}

/**
 * A schema registry inside the node, for the embedded transport: subjects, versions and global ids
 * with compatibility checks, kept in a JSON file. The Kafka transport uses a Confluent-compatible one.
 */
export class LocalSchemaRegistry implements SchemaAccess {
  private readonly file: string | undefined;
  private state: Stored = { nextId: 1, subjects: {} };
  private readonly byIdCache = new Map<number, RegisteredSchema>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(file: string | undefined) {
    this.file = file;
  }

  /** Opens the registry kept in `file`, or an in-memory one when no file is given. */
  static async open(file?: string): Promise<LocalSchemaRegistry> {
    const registry = new LocalSchemaRegistry(file);
    if (file) {
      let text: string | undefined;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (text !== undefined) registry.state = parseStored(file, text);
    }
    registry.reindex();
    return registry;
  }

  async register(
    subject: string,
    schema: AvroSchema,
    mode: CompatibilityMode = 'BACKWARD',
  ): Promise<RegisteredSchema> {
    avroType(schema); // throws on an invalid schema before anything is stored
    const versions = (this.state.subjects[subject] ??= []);
    const canonical = JSON.stringify(schema);
    const index = versions.findIndex((v) => JSON.stringify(v.schema) === canonical);
    if (index >= 0) {
      // It may have been registered by a call still writing the file: hand out the id only once it is
      // durable. If that write failed, the version was rolled back: register it afresh.
      await this.writing.catch(() => undefined);
      if (versions[index] && JSON.stringify(versions[index].schema) === canonical)
        return this.entry(subject, index);
      return this.register(subject, schema, mode);
    }
    const result = checkCompatibility(
      schema,
      versions.map((v) => v.schema),
      mode,
    );
    if (!result.compatible) throw new IncompatibleSchemaError(subject, mode, result.messages);
    const existing = [...this.byIdCache.values()].find((r) => JSON.stringify(r.schema) === canonical);
    versions.push({ id: existing?.id ?? this.state.nextId++, schema });
    const registered = this.entry(subject, versions.length - 1);
    // Before the write: a concurrent register of the same schema answers with this id, and byId must know it.
    const cached = !this.byIdCache.has(registered.id);
    if (cached) this.byIdCache.set(registered.id, registered);
    try {
      await this.persist();
    } catch (error) {
      // Not on disk, so not registered: a later call may try again.
      versions.pop();
      if (cached) this.byIdCache.delete(registered.id);
      throw error;
    }
    return registered;
  }

  async latest(subject: string): Promise<RegisteredSchema | undefined> {
    const versions = this.state.subjects[subject];
    return versions && versions.length > 0 ? this.entry(subject, versions.length - 1) : undefined;
  }

  async byId(id: number): Promise<RegisteredSchema | undefined> {
    return this.byIdCache.get(id);
  }

  subjects(): string[] {
    return Object.keys(this.state.subjects).sort();
  }

  private entry(subject: string, index: number): RegisteredSchema {
    const v = this.state.subjects[subject]![index]!;
    return { subject, id: v.id, version: index + 1, schema: v.schema };
  }

  private reindex(): void {
    for (const [subject, versions] of Object.entries(this.state.subjects)) {
      versions.forEach((v, i) => {
        if (!this.byIdCache.has(v.id))
          this.byIdCache.set(v.id, { subject, id: v.id, version: i + 1, schema: v.schema });
      });
    }
  }

  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const text = JSON.stringify(this.state);
    // Each write follows the previous one whether or not it failed: one failed write must not fail all later ones.
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        await mkdir(dirname(file), { recursive: true });
        await writeFileDurably(file, text);
      });
    return this.writing;
  }
}

/** The stored registry, or an error that names the file and says what to do about it. */
function parseStored(file: string, text: string): Stored {
  let value: unknown;
  let reason: string | undefined;
  try {
    value = JSON.parse(text);
  } catch (error) {
    reason = (error as Error).message;
  }
  const stored = value as Partial<Stored> | undefined;
  if (
    reason === undefined &&
    (typeof stored !== 'object' ||
      stored === null ||
      !Number.isSafeInteger(stored.nextId) ||
      typeof stored.subjects !== 'object' ||
      stored.subjects === null)
  )
    reason = 'expected { "nextId": <integer>, "subjects": { … } }';
  if (reason !== undefined)
    throw new Error(
      `the schema registry file ${file} is corrupt (${reason}). It holds the Avro schemas the records in this ` +
        'data dir were written with: restore it from a backup. Deleting it leaves those records undecodable, so ' +
        'only delete it together with the rest of the data dir (the log and its topics) to start afresh.',
    );
  return stored as Stored;
}
