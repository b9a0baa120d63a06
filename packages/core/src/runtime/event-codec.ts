import type { ChangeEvent, Envelope, Row } from '../contract/envelope.js';
import type { SchemaAccess } from '../contract/context.js';
import { avroType, type AvroRecordSchema, type AvroType } from '../schema/avro.js';
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

  private async read(buffer: Buffer): Promise<unknown> {
    const id = readSchemaId(buffer);
    let type = this.readers.get(id);
    if (!type) {
      const registered = await this.schemas.byId(id);
      if (!registered)
        throw new Error(`record references schema id ${id}, which the schema registry does not know`);
      type = avroType(registered.schema);
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
