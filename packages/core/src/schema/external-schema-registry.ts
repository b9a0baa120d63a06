import type { RegisteredSchema, SchemaAccess } from '../contract/context.js';
import { checkCompatibility, type AvroSchema, type CompatibilityMode } from './avro.js';
import {
  RegistryRequestError,
  SchemaRegistryClient,
  type SchemaRegistryClientOptions,
} from './registry-client.js';
import { IncompatibleSchemaError, SchemaRegistryError } from './schema-registry.js';

/**
 * `SchemaAccess` on any Confluent-compatible schema registry, by URL: a node pointed at an external registry
 * registers and reads its schemas there. Ids are immutable, so what an id or a registration answered is
 * cached for the life of the process; `latest` always asks.
 */
export class ExternalSchemaRegistry implements SchemaAccess {
  readonly client: SchemaRegistryClient;
  private readonly ids = new Map<number, Promise<RegisteredSchema | undefined>>();
  private readonly registrations = new Map<string, RegisteredSchema>();

  constructor(options: SchemaRegistryClientOptions) {
    this.client = new SchemaRegistryClient(options);
  }

  get url(): string {
    return this.client.url;
  }

  /**
   * Registers with the registry, which checks the subject's own compatibility level; with `mode`, the schema
   * is also checked against the subject's versions (fetched) with that level first.
   */
  async register(subject: string, schema: AvroSchema, mode?: CompatibilityMode): Promise<RegisteredSchema> {
    const text = JSON.stringify(schema);
    const cacheKey = `${subject}\u0000${text}\u0000${mode ?? ''}`;
    const cached = this.registrations.get(cacheKey);
    if (cached) return cached;
    if (mode && mode !== 'NONE') await this.checkLocally(subject, schema, mode);
    try {
      await this.client.register(subject, text);
    } catch (error) {
      if (error instanceof RegistryRequestError && error.status === 409)
        throw new IncompatibleSchemaError(subject, undefined, [error.message]);
      if (error instanceof RegistryRequestError && error.status === 422)
        throw new SchemaRegistryError(422, error.code ?? 42201, error.message);
      throw error;
    }
    // Confluent answers a registration with the id only: the version comes from a lookup.
    const found = await this.client.lookup(subject, text);
    const registered: RegisteredSchema = { subject, id: found.id, version: found.version, schema };
    this.registrations.set(cacheKey, registered);
    if (!this.ids.has(found.id)) this.ids.set(found.id, Promise.resolve(registered));
    return registered;
  }

  async latest(subject: string): Promise<RegisteredSchema | undefined> {
    try {
      const found = await this.client.version(subject, 'latest');
      return {
        subject,
        id: found.id,
        version: found.version,
        schema: avroOf(found.schema, found.schemaType, found.id),
      };
    } catch (error) {
      if (isNotFound(error, 40401, 40402)) return undefined;
      throw error;
    }
  }

  byId(id: number): Promise<RegisteredSchema | undefined> {
    let pending = this.ids.get(id);
    if (!pending) {
      pending = this.fetchId(id);
      this.ids.set(id, pending);
      // A failure (unreachable, timeout) is not an answer: the next call asks again.
      pending.catch(() => this.ids.delete(id));
    }
    return pending;
  }

  private async fetchId(id: number): Promise<RegisteredSchema | undefined> {
    let found: { schema: string; schemaType?: string };
    try {
      found = await this.client.schemaById(id);
    } catch (error) {
      if (isNotFound(error, 40403)) return undefined;
      throw error;
    }
    // Which subject and version carry it is secondary (registries before Confluent 5.5 cannot tell).
    const carrier = await this.client.versionsOfId(id).then(
      (versions) => versions[0],
      () => undefined,
    );
    return {
      subject: carrier?.subject ?? '',
      version: carrier?.version ?? 0,
      id,
      schema: avroOf(found.schema, found.schemaType, id),
    };
  }

  private async checkLocally(subject: string, schema: AvroSchema, mode: CompatibilityMode): Promise<void> {
    let versions: number[];
    try {
      versions = await this.client.versions(subject);
    } catch (error) {
      if (isNotFound(error, 40401)) return;
      throw error;
    }
    const against = mode.endsWith('_TRANSITIVE') ? versions : versions.slice(-1);
    const previous = await Promise.all(
      against.map(async (v) => {
        const found = await this.client.version(subject, v);
        return avroOf(found.schema, found.schemaType, found.id);
      }),
    );
    const result = checkCompatibility(schema, previous, mode);
    if (!result.compatible) throw new IncompatibleSchemaError(subject, mode, result.messages);
  }
}

function isNotFound(error: unknown, ...codes: number[]): boolean {
  return error instanceof RegistryRequestError && error.status === 404 && codes.includes(error.code ?? -1);
}

function avroOf(text: string, schemaType: string | undefined, id: number): AvroSchema {
  if (schemaType !== undefined && schemaType !== 'AVRO')
    throw new Error(`schema id ${id} is a ${schemaType} schema: datamesh reads and writes Avro only`);
  return JSON.parse(text) as AvroSchema;
}
