import { rowSchemaOf, TaskHaltedError, type Logger, type StreamSchemas } from '@datamesh/core';
import {
  mappingChanges,
  mappingFor,
  type MappingConflict,
  type MappingOptions,
  type Properties,
} from './index-mapping.js';
import type { Retrier } from './retry-policy.js';
import { SearchEngineError, type SearchEngine } from './search-engine.js';

export interface IndexManagerOptions {
  readonly engine: SearchEngine;
  readonly retrier: Retrier;
  readonly logger: Logger;
  /** Index settings of the indexes the sink creates (`number_of_shards`, `gc_deletes`, …). */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly mapping: MappingOptions;
}

/**
 * Makes an index ready for a schema, once per schema object and index: creates it with the schema's mapping
 * and the sink's settings, or adds the fields a newer schema brings to its mapping. A field whose mapping
 * would have to change halts the task: an index cannot change a field's type in place.
 */
export class IndexManager {
  private readonly options: IndexManagerOptions;
  private readonly ensured = new WeakMap<StreamSchemas, Set<string>>();

  constructor(options: IndexManagerOptions) {
    this.options = options;
  }

  isReady(index: string, schema: StreamSchemas): boolean {
    return this.ensured.get(schema)?.has(index) ?? false;
  }

  async ensure(index: string, schema: StreamSchemas): Promise<void> {
    if (this.isReady(index, schema)) return;
    const { engine, retrier, logger } = this.options;
    const wanted = this.mappingOf(schema);
    if (!(await retrier.run(`HEAD ${index}`, () => engine.indexExists(index)))) {
      try {
        await retrier.run(`create index ${index}`, () =>
          engine.createIndex(index, { settings: this.options.settings, mappings: wanted }),
        );
        logger.info({ index }, 'index created');
        this.ready(index, schema);
        return;
      } catch (error) {
        // Another task (another partition of the input) created it first: evolve it like any other.
        if (!(error instanceof SearchEngineError && error.type === 'resource_already_exists_exception')) {
          throw refused(`cannot create index "${index}"`, error);
        }
      }
    }
    const current = await retrier.run(`GET ${index}/_mapping`, () => engine.getMapping(index));
    for (const [concrete, properties] of current) {
      const { added, conflicts } = mappingChanges(properties, wanted.properties);
      if (conflicts.length > 0) throw new TaskHaltedError(conflictMessage(concrete, schema, conflicts));
      if (Object.keys(added).length === 0) continue;
      try {
        await retrier.run(`PUT ${concrete}/_mapping`, () => engine.putMapping(concrete, added));
      } catch (error) {
        throw refused(`cannot add fields to the mapping of index "${concrete}"`, error);
      }
      logger.info({ index: concrete, fields: fieldPaths(added) }, 'index mapping: fields added');
    }
    this.ready(index, schema);
  }

  private ready(index: string, schema: StreamSchemas): void {
    let indexes = this.ensured.get(schema);
    if (!indexes) this.ensured.set(schema, (indexes = new Set()));
    indexes.add(index);
  }

  private mappingOf(schema: StreamSchemas) {
    try {
      const keyFields = schema.keySchema.fields.map((field) => field.name);
      return mappingFor(
        rowSchemaOf(schema.valueSchema),
        keyFields,
        this.options.engine.engine,
        this.options.mapping,
      );
    } catch (error) {
      throw new TaskHaltedError(
        `no index mapping for ${schemaName(schema)}: ${(error as Error).message}. Change the schema or the ` +
          'sink config mapping options',
        { cause: error },
      );
    }
  }
}

/** A 400 (the engine refuses the settings or mapping) halts the task; other failures restart it. */
function refused(what: string, error: unknown): unknown {
  if (error instanceof SearchEngineError && error.status === 400) {
    return new TaskHaltedError(`${what}: ${error.message}`, { cause: error });
  }
  return error;
}

function conflictMessage(
  index: string,
  schema: StreamSchemas,
  conflicts: readonly MappingConflict[],
): string {
  const lines = conflicts.map(
    (c) => `  - ${c.path}: the index has ${c.current}; the schema needs ${c.wanted}`,
  );
  return (
    `index "${index}" cannot take events of ${schemaName(schema)}: its mapping disagrees with the schema on ` +
    `${conflicts.length} field(s)\n${lines.join('\n')}\n` +
    'An index cannot change a field in place. Write to a new index (set the sink config index to a new name, ' +
    'e.g. with a -v2 suffix, and replay the input from the beginning; then point readers, or an alias, at it), ' +
    'or reindex into one with the new mapping, or change the schema back.'
  );
}

function schemaName(schema: StreamSchemas): string {
  const { namespace, name } = schema.valueSchema;
  return namespace ? `${namespace}.${name}` : name;
}

/** Dotted paths of the fields a mapping holds, for the log. */
function fieldPaths(properties: Properties, prefix = ''): string[] {
  return Object.entries(properties).flatMap(([name, mapping]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    return mapping.properties ? [path, ...fieldPaths(mapping.properties, path)] : [path];
  });
}
