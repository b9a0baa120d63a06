import { avroType, checkCompatibility, type AvroSchema, type CompatibilityMode } from './avro.js';
import { RegistryState } from './registry-state.js';
import type { RegistryChange, RegistryStorage, StoredVersion } from './registry-storage.js';

export const COMPATIBILITY_LEVELS: readonly CompatibilityMode[] = [
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
  'NONE',
];

/** A level as Confluent accepts it (any case), or undefined. */
export function parseCompatibilityLevel(value: unknown): CompatibilityMode | undefined {
  if (typeof value !== 'string') return undefined;
  const upper = value.toUpperCase();
  return COMPATIBILITY_LEVELS.find((l) => l === upper);
}

/**
 * A refusal with the HTTP status and the error code a Confluent schema registry answers with
 * (40401 subject not found, 42201 invalid schema, …), so the REST API passes it on as it is.
 */
export class SchemaRegistryError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(status: number, code: number, message: string) {
    super(message);
    this.name = 'SchemaRegistryError';
    this.status = status;
    this.code = code;
  }
}

/** Raised when a new schema version breaks the subject's compatibility level (HTTP 409, error 40901). */
export class IncompatibleSchemaError extends SchemaRegistryError {
  readonly subject: string;
  readonly messages: readonly string[];
  /** `level` is unknown when an external registry refused the schema. */
  constructor(subject: string, level: string | undefined, messages: readonly string[]) {
    super(
      409,
      40901,
      `schema for subject "${subject}" is ${level ? `not ${level}-compatible` : 'incompatible'} with earlier versions:\n  - ${messages.join('\n  - ')}`,
    );
    this.name = 'IncompatibleSchemaError';
    this.subject = subject;
    this.messages = messages;
  }
}

const subjectNotFound = (subject: string) =>
  new SchemaRegistryError(404, 40401, `Subject '${subject}' not found.`);
const versionNotFound = (version: number | 'latest') =>
  new SchemaRegistryError(404, 40402, `Version ${version} not found.`);
const schemaNotFound = (id?: number) =>
  new SchemaRegistryError(404, 40403, id === undefined ? 'Schema not found' : `Schema ${id} not found`);
const invalidSchema = (details: string) => new SchemaRegistryError(422, 42201, `Invalid schema: ${details}`);

/** What a client registers (or looks up, or checks): the body of `POST /subjects/{s}/versions`. */
export interface SchemaInput {
  readonly schema: string;
  readonly schemaType?: string | undefined;
  readonly references?: readonly unknown[] | undefined;
}

/** `latest` or a version number ≥ 1. */
export type VersionSelector = number | 'latest';

export interface CompatibilityCheck {
  readonly compatible: boolean;
  readonly messages: readonly string[];
}

export interface SchemaRegistryOptions {
  /** The level of subjects without one when no global level was set (`PUT /config`). Default BACKWARD. */
  readonly defaultCompatibility?: CompatibilityMode;
}

/**
 * A schema registry with Confluent's semantics, behind `RegistryStorage`: subjects with numbered versions,
 * global schema ids (the same schema under any subject has the same id), compatibility levels (global and
 * per subject, checked with Avro's resolution rules against live versions), soft and permanent deletes (a
 * version or subject is soft-deleted before it can be deleted for good). AVRO schemas only, without
 * references. Ids are never handed out twice, also not after the schema that had one was deleted.
 *
 * Changes are applied one at a time and become visible once the storage made them durable. One registry
 * owns its storage: two processes writing the same file or topic are not coordinated.
 */
export class SchemaRegistry {
  private readonly storage: RegistryStorage;
  private readonly defaultLevel: CompatibilityMode;
  private state: RegistryState;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(storage: RegistryStorage, state: RegistryState, defaultLevel: CompatibilityMode) {
    this.storage = storage;
    this.state = state;
    this.defaultLevel = defaultLevel;
  }

  static async open(storage: RegistryStorage, options: SchemaRegistryOptions = {}): Promise<SchemaRegistry> {
    let state: RegistryState;
    try {
      state = RegistryState.from(await storage.load());
    } catch (error) {
      await storage.close().catch(() => undefined);
      throw error;
    }
    return new SchemaRegistry(storage, state, options.defaultCompatibility ?? 'BACKWARD');
  }

  get storageDescription(): string {
    return this.storage.description;
  }

  /** Subjects with a live version (or any version, with `deleted`), sorted. */
  subjects(options: { deleted?: boolean } = {}): string[] {
    return this.state.subjectNames(options.deleted);
  }

  /** A subject's version numbers, oldest first. */
  versions(subject: string, options: { deleted?: boolean } = {}): number[] {
    const versions = this.state.versionsOf(subject, options.deleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    return versions.map((v) => v.version);
  }

  version(subject: string, selector: VersionSelector, options: { deleted?: boolean } = {}): StoredVersion {
    const found = this.select(subject, selector, options.deleted ?? false);
    if (!found) {
      if (this.state.versionsOf(subject, options.deleted).length === 0) throw subjectNotFound(subject);
      throw versionNotFound(selector);
    }
    return found;
  }

  /** The newest live version of a subject, if it has one. */
  latest(subject: string): StoredVersion | undefined {
    return this.select(subject, 'latest', false);
  }

  /**
   * Registers a schema under a subject and answers with its version. A schema the subject already has (as a
   * live version) answers with that version; a new one is checked against the subject's compatibility level,
   * and also against `alsoCheck` when given.
   */
  async register(
    subject: string,
    input: SchemaInput,
    options: { alsoCheck?: CompatibilityMode | undefined } = {},
  ): Promise<StoredVersion> {
    checkSubjectName(subject);
    const { text, schema } = parseInput(input);
    return this.exclusive(async () => {
      const state = this.state;
      const live = state.versionsOf(subject);
      const existing = live.find((v) => v.schema === text);
      if (existing) return existing;
      const level = this.compatibility(subject);
      const previous = live.map((v) => JSON.parse(v.schema) as AvroSchema);
      const messages = [...checkCompatibility(schema, previous, level).messages];
      if (options.alsoCheck && options.alsoCheck !== level)
        messages.push(...checkCompatibility(schema, previous, options.alsoCheck).messages);
      if (messages.length > 0) {
        const levels =
          options.alsoCheck && options.alsoCheck !== level ? `${level} and ${options.alsoCheck}` : level;
        throw new IncompatibleSchemaError(subject, levels, messages);
      }
      const all = state.versionsOf(subject, true);
      const knownId = state.idOf(text);
      const id = knownId ?? state.nextId;
      const entry: StoredVersion = {
        subject,
        version: Math.max(0, ...all.map((v) => v.version)) + 1,
        id,
        schema: text,
        deleted: false,
      };
      const changes: RegistryChange[] = [];
      if (knownId === undefined) changes.push({ kind: 'next-id', nextId: id + 1 });
      changes.push({ kind: 'version', entry });
      // As Confluent does: soft-deleted earlier versions of the same schema in this subject go for good.
      for (const old of all)
        if (old.deleted && old.id === id)
          changes.push({ kind: 'forget-version', subject, version: old.version });
      await this.commit(changes, `registering a schema under subject '${subject}'`);
      return entry;
    });
  }

  /** The version of a subject that holds this schema (live ones, or any with `deleted`). */
  lookup(subject: string, input: SchemaInput, options: { deleted?: boolean } = {}): StoredVersion {
    const { text } = parseInput(input);
    const versions = this.state.versionsOf(subject, options.deleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    const found = versions.findLast((v) => v.schema === text);
    if (!found) throw schemaNotFound();
    return found;
  }

  /**
   * Soft-deletes every live version of a subject (and its compatibility level), or with `permanent` removes
   * a subject whose versions were all soft-deleted before. Answers with the version numbers deleted.
   */
  deleteSubject(subject: string, options: { permanent?: boolean } = {}): Promise<number[]> {
    return this.exclusive(async () => {
      const all = this.state.versionsOf(subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const changes: RegistryChange[] = [];
      let deleted: StoredVersion[];
      if (options.permanent) {
        if (all.some((v) => !v.deleted))
          throw new SchemaRegistryError(
            404,
            40405,
            `Subject '${subject}' was not deleted first before being permanently deleted`,
          );
        deleted = all;
        for (const v of all) changes.push({ kind: 'forget-version', subject, version: v.version });
      } else {
        deleted = all.filter((v) => !v.deleted);
        if (deleted.length === 0)
          throw new SchemaRegistryError(
            404,
            40404,
            `Subject '${subject}' was soft deleted. Set permanent=true to delete permanently`,
          );
        for (const v of deleted) changes.push({ kind: 'version', entry: { ...v, deleted: true } });
        if (this.state.subjectLevel(subject)) changes.push({ kind: 'config', subject, level: null });
      }
      await this.commit(changes, `deleting subject '${subject}'`);
      return deleted.map((v) => v.version);
    });
  }

  /**
   * Soft-deletes a version, or with `permanent` removes a version that was soft-deleted before. Soft-deleting
   * a subject's last live version also removes the subject's compatibility level, as Confluent does.
   */
  deleteVersion(
    subject: string,
    selector: VersionSelector,
    options: { permanent?: boolean } = {},
  ): Promise<number> {
    return this.exclusive(async () => {
      const entry = this.select(subject, selector, true);
      if (!entry) {
        if (this.state.versionsOf(subject, true).length === 0) throw subjectNotFound(subject);
        throw versionNotFound(selector);
      }
      const changes: RegistryChange[] = [];
      if (options.permanent) {
        if (!entry.deleted)
          throw new SchemaRegistryError(
            404,
            40407,
            `Subject '${subject}' Version ${entry.version} was not deleted first before being permanently deleted`,
          );
        changes.push({ kind: 'forget-version', subject, version: entry.version });
      } else {
        if (entry.deleted)
          throw new SchemaRegistryError(
            404,
            40406,
            `Subject '${subject}' Version ${entry.version} was soft deleted. Set permanent=true to delete permanently`,
          );
        changes.push({ kind: 'version', entry: { ...entry, deleted: true } });
        const lastLive = this.state.versionsOf(subject).length === 1;
        if (lastLive && this.state.subjectLevel(subject))
          changes.push({ kind: 'config', subject, level: null });
      }
      await this.commit(changes, `deleting version ${entry.version} of subject '${subject}'`);
      return entry.version;
    });
  }

  /** The schema text of an id (also of soft-deleted versions). */
  schemaById(id: number): string {
    const carrier = this.state.carriersOf(id)[0];
    if (!carrier) throw schemaNotFound(id);
    return carrier.schema;
  }

  /** The subject versions that carry an id: live ones, or all with `deleted`. */
  versionsOfId(id: number, options: { deleted?: boolean } = {}): { subject: string; version: number }[] {
    const carriers = this.state.carriersOf(id);
    if (carriers.length === 0) throw schemaNotFound(id);
    return carriers
      .filter((v) => options.deleted || !v.deleted)
      .map((v) => ({ subject: v.subject, version: v.version }))
      .sort((a, b) => a.subject.localeCompare(b.subject) || a.version - b.version);
  }

  /** The version an id belongs to, preferring a live one; undefined for an unknown id. */
  carrierOf(id: number): StoredVersion | undefined {
    return this.state.carriersOf(id)[0];
  }

  /** The global level: set with `PUT /config`, else the default. */
  globalCompatibility(): CompatibilityMode {
    return this.state.globalLevel ?? this.defaultLevel;
  }

  /** A subject's own level, if it has one. */
  subjectCompatibility(subject: string): CompatibilityMode | undefined {
    return this.state.subjectLevel(subject);
  }

  /** The level a subject's new versions are checked with. */
  compatibility(subject: string): CompatibilityMode {
    return this.state.subjectLevel(subject) ?? this.globalCompatibility();
  }

  setGlobalCompatibility(level: CompatibilityMode): Promise<void> {
    return this.exclusive(() =>
      this.commit([{ kind: 'config', subject: null, level }], 'updating the global compatibility level'),
    );
  }

  /** Back to the default level; answers with the level it had. */
  resetGlobalCompatibility(): Promise<CompatibilityMode> {
    return this.exclusive(async () => {
      const previous = this.globalCompatibility();
      await this.commit(
        [{ kind: 'config', subject: null, level: null }],
        'deleting the global compatibility level',
      );
      return previous;
    });
  }

  async setSubjectCompatibility(subject: string, level: CompatibilityMode): Promise<void> {
    checkSubjectName(subject);
    return this.exclusive(() =>
      this.commit([{ kind: 'config', subject, level }], `updating the compatibility level of '${subject}'`),
    );
  }

  /** Removes a subject's own level (it follows the global one again); answers with the level it had. */
  deleteSubjectCompatibility(subject: string): Promise<CompatibilityMode> {
    return this.exclusive(async () => {
      const previous = this.state.subjectLevel(subject);
      // Confluent answers 40401 here too.
      if (!previous)
        throw new SchemaRegistryError(
          404,
          40401,
          `Subject '${subject}' has no compatibility level of its own to delete`,
        );
      await this.commit(
        [{ kind: 'config', subject, level: null }],
        `deleting the compatibility level of '${subject}'`,
      );
      return previous;
    });
  }

  /**
   * Would this schema be accepted? Against one version (`selector`), or without one against the versions the
   * subject's level applies to (all of them for a transitive level). `latest` of a subject without versions
   * is compatible: there is nothing to break.
   */
  testCompatibility(subject: string, input: SchemaInput, selector?: VersionSelector): CompatibilityCheck {
    const { schema } = parseInput(input);
    let against: StoredVersion[];
    if (selector === undefined) against = this.state.versionsOf(subject);
    else {
      const found = this.select(subject, selector, false);
      if (!found && selector !== 'latest') {
        if (this.state.versionsOf(subject).length === 0) throw subjectNotFound(subject);
        throw versionNotFound(selector);
      }
      against = found ? [found] : [];
    }
    const previous = against.map((v) => JSON.parse(v.schema) as AvroSchema);
    return checkCompatibility(schema, previous, this.compatibility(subject));
  }

  /** Waits for a change in flight, then closes the storage. */
  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.storage.close();
  }

  private select(subject: string, selector: VersionSelector, deleted: boolean): StoredVersion | undefined {
    if (selector === 'latest') return this.state.versionsOf(subject, deleted).at(-1);
    const entry = this.state.entry(subject, selector);
    return entry && (deleted || !entry.deleted) ? entry : undefined;
  }

  /** Runs one change at a time, in call order; a failed one does not stop the next. */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.catch(() => undefined).then(run);
    this.queue = result;
    return result;
  }

  private async commit(changes: readonly RegistryChange[], what: string): Promise<void> {
    const next = this.state.with(changes);
    try {
      await this.storage.write(changes, () => next.snapshot());
    } catch (error) {
      throw new SchemaRegistryError(
        500,
        50001,
        `Error while ${what} in the registry's ${this.storage.description}: ${(error as Error).message}`,
      );
    }
    this.state = next;
  }
}

/** Parses a version path segment as Confluent does: `latest`, -1 (latest) or 1 … 2^31-1. */
export function parseVersion(text: string): VersionSelector {
  if (text === 'latest' || text === '-1') return 'latest';
  const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1)
    throw new SchemaRegistryError(
      422,
      42202,
      `The specified version '${text}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
    );
  return n;
}

/** The canonical text (JSON without insignificant whitespace) and the parsed Avro schema of an input. */
function parseInput(input: SchemaInput): { text: string; schema: AvroSchema } {
  const type = input.schemaType ?? 'AVRO';
  if (type !== 'AVRO') {
    if (type === 'JSON' || type === 'PROTOBUF')
      throw invalidSchema(`schemaType ${type} is not supported: this registry stores AVRO schemas only`);
    throw invalidSchema(`unknown schemaType ${JSON.stringify(type)}: this registry stores AVRO schemas only`);
  }
  if ((input.references?.length ?? 0) > 0)
    throw invalidSchema('schema references are not supported: inline the referenced types');
  if (typeof input.schema !== 'string' || input.schema.trim() === '')
    throw invalidSchema('empty schema: send the Avro schema as a JSON string in `schema`');
  let schema: AvroSchema;
  try {
    schema = JSON.parse(input.schema) as AvroSchema;
  } catch (error) {
    throw invalidSchema(`not JSON (${(error as Error).message})`);
  }
  try {
    avroType(schema);
  } catch (error) {
    throw invalidSchema((error as Error).message);
  }
  return { text: JSON.stringify(schema), schema };
}

function checkSubjectName(subject: string): void {
  // eslint-disable-next-line no-control-regex
  if (subject === '' || /[\u0000-\u001f\u007f]/.test(subject))
    throw new SchemaRegistryError(422, 42208, `Invalid subject ${JSON.stringify(subject)}`);
}
