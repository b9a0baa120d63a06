import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RegisteredSchema, SchemaAccess } from '../contract/context.js';
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
      try {
        registry.state = JSON.parse(await readFile(file, 'utf8')) as Stored;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
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
    if (index >= 0) return this.entry(subject, index);
    const result = checkCompatibility(
      schema,
      versions.map((v) => v.schema),
      mode,
    );
    if (!result.compatible) throw new IncompatibleSchemaError(subject, mode, result.messages);
    const existing = [...this.byIdCache.values()].find((r) => JSON.stringify(r.schema) === canonical);
    versions.push({ id: existing?.id ?? this.state.nextId++, schema });
    await this.persist();
    const registered = this.entry(subject, versions.length - 1);
    this.byIdCache.set(registered.id, registered);
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
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    });
    return this.writing;
  }
}
