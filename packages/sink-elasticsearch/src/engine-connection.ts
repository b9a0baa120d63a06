import type { Logger } from '@datamesh/core';
import { connectionOf, redactUrl, type Connection } from './connection-options.js';
import { detectEngine } from './engine-detect.js';
import { ElasticEngine } from './elastic-engine.js';
import type { Engine } from './index-mapping.js';
import { OpenSearchEngine } from './opensearch-engine.js';
import type { SearchEngine } from './search-engine.js';
import type { ElasticsearchSinkConfig } from './sink-config.js';

export function createSearchEngine(engine: Engine, connection: Connection): SearchEngine {
  return engine === 'elasticsearch' ? new ElasticEngine(connection) : new OpenSearchEngine(connection);
}

/** Connects to the configured engine, asking the node which one it is when `engine` is `auto`. */
export async function connectSearchEngine(
  config: ElasticsearchSinkConfig,
  logger: Logger,
): Promise<SearchEngine> {
  const connection = await connectionOf(config);
  const engine = config.engine === 'auto' ? await detectEngine(connection) : config.engine;
  logger.debug({ engine, nodes: connection.nodes.map(redactUrl) }, 'search engine chosen');
  return createSearchEngine(engine, connection);
}
