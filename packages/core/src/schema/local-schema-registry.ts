import type { RegisteredSchema, SchemaAccess } from '../contract/context.js';
import type { Transport } from '../transport/transport.js';
import type { AvroSchema, CompatibilityMode } from './avro.js';
import { FileRegistryStorage } from './file-registry-storage.js';
import { memoryRegistryStorage, type RegistryStorage, type StoredVersion } from './registry-storage.js';
import { SchemaRegistry, type SchemaRegistryOptions } from './schema-registry.js';
import { SCHEMAS_TOPIC, TopicRegistryStorage } from './topic-registry-storage.js';

/**
 * The node's own schema registry as plugins and the event codec use it (`SchemaAccess`): a `SchemaRegistry`
 * kept in a JSON file (embedded transport), in a compacted topic of the transport (Kafka), or in memory.
 * The same registry answers the Confluent REST API when the node serves it (`registry`).
 */
export class LocalSchemaRegistry implements SchemaAccess {
  readonly registry: SchemaRegistry;

  private constructor(registry: SchemaRegistry) {
    this.registry = registry;
  }

  /** Opens the registry kept in `file`, or an in-memory one when no file is given. */
  static async open(file?: string, options?: SchemaRegistryOptions): Promise<LocalSchemaRegistry> {
    return LocalSchemaRegistry.on(
      file ? await FileRegistryStorage.open(file) : memoryRegistryStorage(),
      options,
    );
  }

  /** Opens the registry kept in a compacted topic of the transport (`__datamesh_schemas` by default). */
  static async onTransport(
    transport: Transport,
    options: SchemaRegistryOptions & { topic?: string } = {},
  ): Promise<LocalSchemaRegistry> {
    return LocalSchemaRegistry.on(
      await TopicRegistryStorage.open(transport, options.topic ?? SCHEMAS_TOPIC),
      options,
    );
  }

  static async on(storage: RegistryStorage, options?: SchemaRegistryOptions): Promise<LocalSchemaRegistry> {
    return new LocalSchemaRegistry(await SchemaRegistry.open(storage, options));
  }

  async register(subject: string, schema: AvroSchema, mode?: CompatibilityMode): Promise<RegisteredSchema> {
    return registered(
      await this.registry.register(subject, { schema: JSON.stringify(schema) }, { alsoCheck: mode }),
    );
  }

  async latest(subject: string): Promise<RegisteredSchema | undefined> {
    const entry = this.registry.latest(subject);
    return entry && registered(entry);
  }

  async byId(id: number): Promise<RegisteredSchema | undefined> {
    const entry = this.registry.carrierOf(id);
    return entry && registered(entry);
  }

  subjects(): string[] {
    return this.registry.subjects();
  }

  close(): Promise<void> {
    return this.registry.close();
  }
}

function registered(entry: StoredVersion): RegisteredSchema {
  return {
    subject: entry.subject,
    id: entry.id,
    version: entry.version,
    schema: JSON.parse(entry.schema) as AvroSchema,
  };
}
