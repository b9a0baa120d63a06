import { rowSchemaOf, TaskHaltedError, type SinkRecord, type StreamSchemas } from '@datamesh/core';
import { documentConverter, documentIdConverter } from './documents.js';
import type { IndexNamer } from './index-naming.js';

/** One bulk action, serialised once when it is made (so its size is known while it waits). */
export interface BulkOperation {
  readonly action: 'index' | 'delete';
  readonly index: string;
  readonly id: string;
  /** The document this operation is about: index and id. Operations on one document stay in order. */
  readonly key: string;
  /** The external version; undefined without versioning. */
  readonly version: number | undefined;
  /** The NDJSON lines: the action line, and the document line of an `index`. */
  readonly lines: string;
  readonly bytes: number;
  /** The record it came from, to reject it with. */
  readonly record: SinkRecord;
}

/** What a record asks of the index. */
export type PlannedOperation =
  | { readonly kind: 'write'; readonly operation: BulkOperation }
  | { readonly kind: 'truncate'; readonly index: string }
  | { readonly kind: 'skip' }
  | { readonly kind: 'reject'; readonly error: Error };

interface SchemaPlan {
  readonly toDocument: (row: Readonly<Record<string, unknown>>) => Record<string, unknown>;
  readonly toId: (key: Readonly<Record<string, unknown>>) => string;
}

/**
 * Turns change events into bulk operations: c/u/r index the converted `after` row, d deletes, tombstones do
 * nothing, t truncates. Every operation carries the event's version (`version_type: external_gte`: it applies
 * at an equal or higher version, so the changes of one transaction, which share its commit LSN, apply in order)
 * unless versioning is off; an event without a usable version is rejected.
 */
export class OperationPlanner {
  private readonly namer: IndexNamer;
  private readonly versionPath: readonly string[] | undefined;
  private readonly versionField: string;
  private readonly plans = new WeakMap<StreamSchemas, SchemaPlan>();

  /** `versionField` is a dotted path into the envelope, or `none`. */
  constructor(namer: IndexNamer, versionField: string) {
    this.namer = namer;
    this.versionField = versionField;
    this.versionPath = versionField === 'none' ? undefined : versionField.split('.');
  }

  plan(record: SinkRecord): PlannedOperation {
    const { event } = record;
    const envelope = event.value;
    if (envelope === null) return { kind: 'skip' };
    try {
      const index = this.namer.nameFor(record);
      if (envelope.op === 't') return { kind: 'truncate', index };
      if (!['c', 'u', 'r', 'd'].includes(envelope.op)) {
        return reject(`unknown operation "${String(envelope.op)}" (expected c, u, r, d or t)`);
      }
      if (event.key === null) {
        return reject(
          `a change event (op "${envelope.op}") without a key: the document id comes from the key`,
        );
      }
      const plan = this.planFor(record.schema);
      const id = plan.toId(event.key);
      const version = this.versionOf(envelope);
      if (version instanceof Error) {
        return {
          kind: 'reject',
          error: new Error(`document "${id}" in index "${index}": ${version.message}`),
        };
      }
      const meta = JSON.stringify({
        _index: index,
        _id: id,
        ...(version === undefined ? {} : { version, version_type: 'external_gte' }),
      });
      let lines: string;
      if (envelope.op === 'd') {
        lines = `{"delete":${meta}}\n`;
      } else {
        if (envelope.after === null)
          return reject(`a change event (op "${envelope.op}") without an "after" row`);
        lines = `{"index":${meta}}\n${JSON.stringify(plan.toDocument(envelope.after))}\n`;
      }
      return {
        kind: 'write',
        operation: {
          action: envelope.op === 'd' ? 'delete' : 'index',
          index,
          id,
          key: `${index}\u0000${id}`,
          version,
          lines,
          bytes: Buffer.byteLength(lines),
          record,
        },
      };
    } catch (error) {
      if (error instanceof TaskHaltedError) throw error;
      return { kind: 'reject', error: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  /** The version at the configured path, undefined without versioning, or an Error saying what is wrong. */
  private versionOf(envelope: object): number | undefined | Error {
    if (!this.versionPath) return undefined;
    let value: unknown = envelope;
    for (const part of this.versionPath) {
      value =
        typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    }
    if (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER))
      return Number(value);
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    const got =
      value === undefined ? 'nothing' : typeof value === 'bigint' ? `${value}n` : JSON.stringify(value);
    return new Error(
      `no usable version at ${this.versionField} (got ${got}): a version must be a non-negative integer up to ` +
        `2^53-1 that never decreases from one change of a row to the next, in commit order (the Postgres source's ` +
        `source.commitLsn). Point version.field at such a field of the envelope, or ` +
        `set version.field: none to write without versions (the last write wins)`,
    );
  }

  /** Converters derived from a schema object, built on its first event. */
  private planFor(schema: StreamSchemas): SchemaPlan {
    let plan = this.plans.get(schema);
    if (!plan) {
      try {
        const keyFields = schema.keySchema.fields.map((field) => field.name);
        plan = {
          toDocument: documentConverter(rowSchemaOf(schema.valueSchema)),
          toId: documentIdConverter(schema.keySchema, keyFields),
        };
      } catch (error) {
        throw new TaskHaltedError(
          `the sink cannot index events of ${schema.valueSchema.namespace ?? ''}.${schema.valueSchema.name}: ` +
            `${(error as Error).message}. Change the schema (or put a processor before the sink that does)`,
          { cause: error },
        );
      }
      this.plans.set(schema, plan);
    }
    return plan;
  }
}

function reject(message: string): PlannedOperation {
  return { kind: 'reject', error: new Error(message) };
}
