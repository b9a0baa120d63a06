import type { ChangeEvent, Envelope, Row } from '../contract/envelope.js';
import type { SchemaAccess } from '../contract/context.js';
import { avroType, type AvroRecordSchema, type AvroType } from '../schema/avro.js';
import type { StreamSchemas } from '../schema/envelope-schema.js';
import { decodeWire, encodeWire, readSchemaId } from '../schema/wire-format.js';
import type { ConsumedRecord, ProduceRecord } from '../transport/transport.js';

interface TopicWriter {
  readonly keyId: number;
  readonly keyType: AvroType;
  readonly valueId: number;
  readonly valueType: AvroType;
}

/**
 * Turns change events into transport records and back: Avro bodies in the Confluent wire format,
 * schemas registered under `<topic>-key` / `<topic>-value`; a null value is a tombstone.
 */
export class EventCodec {
  private readonly schemas: SchemaAccess;
  private readonly writers = new Map<string, TopicWriter>();
  private readonly readers = new Map<number, AvroType>();
  private readonly schemasById = new Map<number, AvroRecordSchema>();
  private readonly schemaPairs = new Map<string, StreamSchemas>();
  /** Per topic, the schema ids its last non-null key and value were written with (for tombstones). */
  private readonly lastIds = new Map<string, { key?: number; value?: number }>();

  constructor(schemas: SchemaAccess) {
    this.schemas = schemas;
  }

  /**
   * Registers the topic's key and value schemas; needed before `encode` for that topic. Answers whether the
   * topic is written with other schema ids than before.
   */
  async prepareTopic(
    topic: string,
    keySchema: AvroRecordSchema,
    valueSchema: AvroRecordSchema,
  ): Promise<boolean> {
    const key = await this.schemas.register(`${topic}-key`, keySchema);
    const value = await this.schemas.register(`${topic}-value`, valueSchema);
    const previous = this.writers.get(topic);
    this.writers.set(topic, {
      keyId: key.id,
      keyType: avroType(keySchema),
      valueId: value.id,
      valueType: avroType(valueSchema),
    });
    return previous?.keyId !== key.id || previous.valueId !== value.id;
  }

  encode(topic: string, event: ChangeEvent): ProduceRecord {
    const writer = this.writers.get(topic);
    if (!writer) throw new Error(`no schema prepared for topic "${topic}"`);
    return {
      topic,
      key: event.key === null ? null : encodeChecked(writer.keyId, writer.keyType, event.key, topic, 'key'),
      value:
        event.value === null
          ? null
          : encodeChecked(writer.valueId, writer.valueType, event.value, topic, 'value'),
      ...(event.headers ? { headers: event.headers } : {}),
    };
  }

  async decode(record: ConsumedRecord): Promise<ChangeEvent> {
    const key = record.key === null ? null : ((await this.read(record.key)) as Row);
    const value = record.value === null ? null : ((await this.read(record.value)) as Envelope);
    return Object.keys(record.headers).length > 0 ? { key, value, headers: record.headers } : { key, value };
  }

  /**
   * Decodes a record and tells the schemas it was written with: one object per pair of schema ids, so callers
   * can cache by identity. A tombstone (null value) gets the value schema its topic was last written with, or
   * the latest registered under the topic's value subject.
   */
  async decodeWithSchemas(record: ConsumedRecord): Promise<{ event: ChangeEvent; schema: StreamSchemas }> {
    const event = await this.decode(record);
    let last = this.lastIds.get(record.topic);
    if (!last) this.lastIds.set(record.topic, (last = {}));
    const keyId =
      record.key === null
        ? (last.key ?? (await this.latestId(`${record.topic}-key`)))
        : readSchemaId(record.key);
    const valueId =
      record.value === null
        ? (last.value ?? (await this.latestId(`${record.topic}-value`)))
        : readSchemaId(record.value);
    last.key = keyId;
    last.value = valueId;
    const pair = `${keyId}:${valueId}`;
    let schema = this.schemaPairs.get(pair);
    if (!schema) {
      schema = {
        keySchema: this.schemasById.get(keyId) ?? (await this.schemaById(keyId)),
        valueSchema: this.schemasById.get(valueId) ?? (await this.schemaById(valueId)),
      };
      this.schemaPairs.set(pair, schema);
    }
    return { event, schema };
  }

  private async latestId(subject: string): Promise<number> {
    const latest = await this.schemas.latest(subject);
    if (!latest) throw new Error(`no schema registered under subject "${subject}"`);
    return latest.id;
  }

  private async schemaById(id: number): Promise<AvroRecordSchema> {
    const registered = await this.schemas.byId(id);
    if (!registered)
      throw new Error(`record references schema id ${id}, which the schema registry does not know`);
    const schema = registered.schema as AvroRecordSchema;
    this.schemasById.set(id, schema);
    return schema;
  }

  private async read(buffer: Buffer): Promise<unknown> {
    const id = readSchemaId(buffer);
    let type = this.readers.get(id);
    if (!type) {
      type = avroType(this.schemasById.get(id) ?? (await this.schemaById(id)));
      this.readers.set(id, type);
    }
    // avsc's record instances carry their fields as own enumerable properties: they spread, compare
    // and serialise like plain objects, and copying them cost about 8% of a fused task's CPU.
    return decodeWire(buffer, type);
  }
}

function encodeChecked(id: number, type: AvroType, value: unknown, topic: string, part: string): Buffer {
  const problems: string[] = [];
  if (!type.isValid(value, { errorHook: (path) => problems.push(path.join('.') || '(root)') })) {
    throw new Error(`event ${part} does not match the schema of topic "${topic}" at: ${problems.join(', ')}`);
  }
  return encodeWire(id, type, value);
}
