import { isDeepStrictEqual } from 'node:util';
import {
  avroType,
  encodeWire,
  rowSchemaOf,
  TaskHaltedError,
  type AvroField,
  type AvroRecordSchema,
  type AvroType,
  type ChangeEvent,
  type ProduceRecord,
  type Row,
  type SchemaAccess,
  type SinkRecord,
  type SinkRejection,
  type StreamSchemas,
} from '@datamesh/core';
import { MissingKeyFieldError, rowKey } from './row-key.js';

export type OutputFormat = 'avro' | 'json';
export type OutputShape = 'envelope' | 'row';
export type DropReason = 'truncate' | 'tombstone';
export type RejectReason = 'key' | 'schema';

export interface EncoderOptions {
  readonly topic: string;
  readonly format: OutputFormat;
  readonly envelope: OutputShape;
  /** Row fields the key is made of; the event's key when absent. */
  readonly key?: readonly string[];
  /** Where Avro schemas are registered (the node's registry). */
  readonly schemas: SchemaAccess;
}

export interface EncodedBatch {
  readonly records: ProduceRecord[];
  /** Key, value and header bytes of `records`. */
  readonly bytes: number;
  readonly rejections: (SinkRejection & { readonly reason: RejectReason })[];
  readonly dropped: readonly DropReason[];
}

/** A record not written, and why; or its key and value before serialisation. */
type Shaped =
  | { readonly drop: DropReason }
  | { readonly key: Row | null; readonly value: unknown; readonly drop?: undefined };

interface AvroWriter {
  readonly key: { readonly id: number; readonly type: AvroType };
  readonly value: { readonly id: number; readonly type: AvroType };
}

/**
 * Turns sink records into records of the output topic: the change event as it is, or its row state; keyed by
 * the event's key or by chosen row fields; in Avro (Confluent wire format, schemas registered under
 * `<topic>-key` / `<topic>-value`) or JSON. Events that cannot be written as configured are answered as
 * rejections, so one bad event never stops the others.
 */
export class RecordEncoder {
  private readonly options: EncoderOptions;
  /** Per writer schema object (the runtime hands the same object for the same version). */
  private readonly writers = new WeakMap<StreamSchemas, AvroWriter>();
  /** JSON: writer schemas whose row has every key field. */
  private readonly checked = new WeakSet<StreamSchemas>();
  /** Schema ids by subject and schema text, so a new writer version with the same output schemas registers nothing. */
  private readonly ids = new Map<string, number>();

  constructor(options: EncoderOptions) {
    this.options = options;
  }

  async encode(batch: readonly SinkRecord[]): Promise<EncodedBatch> {
    for (const schema of new Set(batch.map((r) => r.schema))) {
      if (this.writers.has(schema) || this.checked.has(schema)) continue;
      if (this.options.format === 'avro') {
        this.writers.set(schema, await this.avroWriter(schema));
      } else {
        // JSON needs no schema, but a key field the writer's row lacks is refused as Avro's derivation does.
        if (this.options.key) this.derived(schema);
        this.checked.add(schema);
      }
    }
    const records: ProduceRecord[] = [];
    const rejections: EncodedBatch['rejections'][number][] = [];
    const dropped: DropReason[] = [];
    let bytes = 0;
    for (const record of batch) {
      let shaped: Shaped;
      try {
        shaped = this.shape(record.event);
      } catch (error) {
        if (!(error instanceof MissingKeyFieldError)) throw error;
        rejections.push({ record, error, reason: 'key' });
        continue;
      }
      if (shaped.drop !== undefined) {
        dropped.push(shaped.drop);
        continue;
      }
      let key: Buffer | null;
      let value: Buffer | null;
      try {
        if (this.options.format === 'avro') {
          const writer = this.writers.get(record.schema)!;
          key = shaped.key === null ? null : avroBody(writer.key, shaped.key, 'key');
          value = shaped.value === null ? null : avroBody(writer.value, shaped.value, 'value');
        } else {
          key = shaped.key === null ? null : jsonBody(shaped.key);
          value = shaped.value === null ? null : jsonBody(shaped.value);
        }
      } catch (error) {
        rejections.push({ record, error: error as Error, reason: 'schema' });
        continue;
      }
      const headers = record.event.headers;
      const moved = this.movedFrom(record.event, shaped.key);
      if (moved) {
        // The row left its old key: a tombstone there, or a compacted topic keeps the old row under it forever.
        const oldKey =
          this.options.format === 'avro'
            ? avroBody(this.writers.get(record.schema)!.key, moved, 'key')
            : jsonBody(moved);
        records.push({ topic: this.options.topic, key: oldKey, value: null });
        bytes += oldKey.length;
      }
      records.push({
        topic: this.options.topic,
        key,
        value,
        ...(headers && Object.keys(headers).length > 0 ? { headers } : {}),
      });
      bytes += (key?.length ?? 0) + (value?.length ?? 0);
      for (const [name, text] of Object.entries(headers ?? {})) bytes += name.length + text.length;
    }
    return { records, bytes, rejections, dropped };
  }

  /** The output key and value of an event (before serialisation), or why it is not written. */
  private shape(event: ChangeEvent): Shaped {
    const row = this.options.envelope === 'row';
    const op = event.value?.op;
    // The source follows each delete with a tombstone; the delete already became this key's tombstone.
    if (row && event.value === null) return { drop: 'tombstone' };
    if (row && op === 't') return { drop: 'truncate' };
    const key = this.options.key ? rowKey(event, this.options.key) : event.key;
    if (!row) return { key, value: event.value };
    return { key, value: op === 'd' ? null : (event.value?.after ?? null) };
  }

  /**
   * For an update under configured key fields that changed: the old key, read from the before image. Only a
   * source that captures full before images (Postgres REPLICA IDENTITY FULL) tells; without one the old key's
   * last row stays in a compacted topic (the README says so).
   */
  private movedFrom(event: ChangeEvent, key: Row | null): Row | null {
    const fields = this.options.key;
    const before = event.value?.op === 'u' ? event.value.before : null;
    if (!fields || !before || key === null) return null;
    const old: Row = {};
    for (const field of fields) {
      const value = before[field];
      if (value === undefined || value === null) return null;
      old[field] = value;
    }
    return isDeepStrictEqual(old, key) ? null : old;
  }

  private async avroWriter(schema: StreamSchemas): Promise<AvroWriter> {
    const { topic } = this.options;
    const { keySchema, valueSchema } = this.derived(schema);
    return {
      key: { id: await this.register(`${topic}-key`, keySchema), type: avroType(keySchema) },
      value: { id: await this.register(`${topic}-value`, valueSchema), type: avroType(valueSchema) },
    };
  }

  /**
   * The output's key and value schemas for a writer schema. A writer schema they cannot be derived from (a
   * configured key field it lacks) halts the task: every event would be refused, and a restart cannot help.
   */
  private derived(schema: StreamSchemas): StreamSchemas {
    try {
      const row = rowSchemaOf(schema.valueSchema);
      const keySchema = this.options.key ? projectedKeySchema(row, this.options.key) : schema.keySchema;
      // A projected key referring to a named type the row defines in another field does not parse alone.
      avroType(keySchema);
      return { valueSchema: this.options.envelope === 'row' ? row : schema.valueSchema, keySchema };
    } catch (error) {
      throw new TaskHaltedError(
        `sink topic "${this.options.topic}": cannot derive its schemas from the input's (${(error as Error).message}); fix the sink's \`key\` or the input`,
        { cause: error },
      );
    }
  }

  private async register(subject: string, schema: AvroRecordSchema): Promise<number> {
    const cacheKey = `${subject}\u0000${JSON.stringify(schema)}`;
    const known = this.ids.get(cacheKey);
    if (known !== undefined) return known;
    let id: number;
    try {
      id = (await this.options.schemas.register(subject, schema)).id;
    } catch (error) {
      if ((error as Error).name !== 'IncompatibleSchemaError') throw error;
      throw new TaskHaltedError(
        `the input's schema changed so that subject "${subject}" refuses the output schema (${(error as Error).message}). ` +
          `The task stopped before writing any event with it. Make the change compatible, or relax the subject's compatibility (mesh schemas), then restart the node.`,
        { cause: error },
      );
    }
    this.ids.set(cacheKey, id);
    return id;
  }
}

/**
 * The key record made of `fields` of the row, typed as the row types them, named `Key` in the row's
 * namespace (as the envelope's own key is).
 */
export function projectedKeySchema(row: AvroRecordSchema, fields: readonly string[]): AvroRecordSchema {
  const byName = new Map(row.fields.map((f) => [f.name, f]));
  const picked: AvroField[] = fields.map((name) => {
    const field = byName.get(name);
    if (!field) {
      throw new Error(
        `key field "${name}" is not a field of ${row.namespace ? `${row.namespace}.` : ''}${row.name} (fields: ${row.fields.map((f) => f.name).join(', ')})`,
      );
    }
    return { name, type: field.type };
  });
  return {
    type: 'record',
    name: 'Key',
    ...(row.namespace ? { namespace: row.namespace } : {}),
    fields: picked,
  };
}

function avroBody(writer: AvroWriter['key'], value: unknown, part: 'key' | 'value'): Buffer {
  try {
    return encodeWire(writer.id, writer.type, value);
  } catch {
    // Encoding checks as it goes; only a failure is worth the walk that names the paths.
    const paths: string[] = [];
    writer.type.isValid(value, { errorHook: (path) => paths.push(path.join('.') || '(root)') });
    throw new Error(`event ${part} does not match its Avro schema at: ${paths.join(', ') || '(unknown)'}`);
  }
}

function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, jsonReplacer), 'utf8');
}

/** Bytes (Avro bytes, fixed and decimals) as base64, as Kafka Connect's JSON converter writes them. */
function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (Buffer.isBuffer(raw)) return raw.toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}
