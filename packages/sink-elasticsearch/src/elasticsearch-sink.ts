import {
  defineSink,
  TaskHaltedError,
  TransientError,
  type PluginContext,
  type SinkRecord,
  type SinkRejection,
  type SinkTask,
} from '@datamesh/core';
import { BulkWriter } from './bulk-writer.js';
import { connectSearchEngine } from './engine-connection.js';
import { IndexManager } from './index-manager.js';
import type { MappingOptions } from './index-mapping.js';
import { IndexNamer } from './index-naming.js';
import { OperationPlanner } from './operations.js';
import { Retrier } from './retry-policy.js';
import { isRetryable, SearchEngineError, type SearchEngine } from './search-engine.js';
import { checkConfig, elasticsearchSinkConfig, type ElasticsearchSinkConfig } from './sink-config.js';
import { sinkMetrics } from './sink-metrics.js';

/**
 * Indexes change events into Elasticsearch or OpenSearch: one document per key, written with the event's
 * version as an external version, so replays and late deliveries change nothing; mappings from the Avro
 * schema, evolved as the schema gains fields.
 */
export const elasticsearchSink = defineSink({
  name: 'elasticsearch',
  version: '0.1.0',
  description:
    'Indexes change events into Elasticsearch or OpenSearch with external versions, bulk requests and schema-derived mappings.',
  config: elasticsearchSinkConfig,
  async create(config, ctx) {
    checkConfig(config);
    const engine = await connectSearchEngine(config, ctx.logger);
    try {
      await engine.info();
    } catch (error) {
      await engine.close();
      if (isRetryable(error)) {
        throw new TransientError(`the search engine does not answer: ${(error as Error).message}`, {
          cause: error,
        });
      }
      // The configured engine is not the one that answers: a restart cannot cure that.
      if (error instanceof SearchEngineError && error.type === 'product_not_supported') {
        throw new TaskHaltedError(error.message, { cause: error });
      }
      throw error;
    }
    return createElasticsearchSinkTask(config, ctx, engine);
  },
});

/** The sink task over a connected engine (tests pass an engine of their own). */
export function createElasticsearchSinkTask(
  config: ElasticsearchSinkConfig,
  ctx: PluginContext,
  engine: SearchEngine,
): SinkTask {
  const metrics = sinkMetrics(ctx.metrics);
  const closing = new AbortController();
  const retrier = new Retrier(
    config.retry,
    AbortSignal.any([ctx.signal, closing.signal]),
    ctx.logger,
    metrics.retries,
  );
  const writer = new BulkWriter({ engine, retrier, metrics, ...config.bulk });
  const planner = new OperationPlanner(new IndexNamer(config.index), config.version.field);
  const indexes = new IndexManager({
    engine,
    retrier,
    logger: ctx.logger,
    mapping: mappingOptions(config),
    settings: {
      number_of_shards: config.settings.shards,
      number_of_replicas: config.settings.replicas,
      gc_deletes: config.deleteRetention,
      ...(config.settings.refreshInterval === undefined
        ? {}
        : { refresh_interval: config.settings.refreshInterval }),
    },
  });

  async function truncate(index: string): Promise<void> {
    if (config.truncate === 'ignore') return;
    // Everything before the truncate first, so it is deleted too and nothing older lands after it.
    await writer.flush();
    let deleted = 0;
    try {
      ({ deleted } = await retrier.run(`delete_by_query ${index}`, () =>
        engine.deleteByQuery(index, { match_all: {} }),
      ));
    } catch (error) {
      if (isMissingApi(error)) {
        // A node without the reindex module (which holds _delete_by_query): a restart cannot cure that.
        throw new TaskHaltedError(
          `truncate: delete-all needs the _delete_by_query API to empty index "${index}", and the node does ` +
            `not have it (${(error as Error).message}). Elasticsearch and OpenSearch ship it in their reindex ` +
            'module: run the sink against a node that has it, or set truncate: ignore to leave the index as ' +
            'it is on a truncate',
          { cause: error },
        );
      }
      if (!(error instanceof SearchEngineError && error.type === 'index_not_found_exception')) throw error;
    }
    ctx.logger.info({ index, deleted }, 'truncate: every document of the index deleted');
  }

  return {
    // The bulk writer's flush waits only for the requests cut before it: writes may go on meanwhile.
    concurrentFlush: true,
    async write(records: readonly SinkRecord[]) {
      const rejections: SinkRejection[] = [];
      for (const record of records) {
        const planned = planner.plan(record);
        switch (planned.kind) {
          case 'skip':
            break;
          case 'reject':
            rejections.push({ record, error: planned.error });
            break;
          case 'truncate':
            await truncate(planned.index);
            break;
          case 'write': {
            const { index } = planned.operation;
            if (!indexes.isReady(index, record.schema)) {
              // A new schema (or index): what is pending goes out under the mapping it was written for.
              if (writer.pending) await writer.flush();
              await indexes.ensure(index, record.schema);
            }
            await writer.add(planned.operation);
          }
        }
      }
      rejections.push(...writer.takeRejections());
      return rejections;
    },
    async flush() {
      await writer.flush();
      return writer.takeRejections();
    },
    async close() {
      closing.abort();
      writer.close();
      await engine.close();
    },
  };
}

/** The node has no handler for the request's path: both engines answer `400 no handler found for uri […]`. */
function isMissingApi(error: unknown): boolean {
  return (
    error instanceof SearchEngineError &&
    error.status === 400 &&
    /no handler found for uri/.test(error.message)
  );
}

function mappingOptions(config: ElasticsearchSinkConfig): MappingOptions {
  const { strings, fields, nested } = config.mapping;
  return {
    strings,
    ...(fields === undefined ? {} : { fields }),
    ...(nested === undefined ? {} : { nested }),
  };
}
