import { useServices } from '@datamesh/services/testing';
import type { Engine } from '../index-mapping.js';

/**
 * A real engine the integration suites run against (a service of `tools/services`), with what the suites
 * expect of it where the two engines differ. Everything else is expected of both alike.
 */
export interface EngineUnderTest {
  /** The sink's `engine`, and what `engine: auto` must detect. */
  readonly engine: Engine;
  /** The `tools/services` service that runs it. */
  readonly service: 'opensearch' | 'elasticsearch';
  /** For test names. */
  readonly title: string;
  /** The error type of a bulk item whose document a field's mapping refuses. */
  readonly mapperErrorType: string;
  /** The other engine, named in the config to check the sink halts saying which one answers. */
  readonly otherEngine: Engine;
  /** How the halt names the node (`not Elasticsearch` … `set engine: opensearch`). */
  readonly otherEngineMessage: RegExp;
  /**
   * What `truncate: delete-all` does: `deletes` (the engine has `_delete_by_query`), or `halts` (it lacks it:
   * the reduced Elasticsearch node has no reindex module).
   */
  readonly truncateDeleteAll: 'deletes' | 'halts';
}

export const OPENSEARCH: EngineUnderTest = {
  engine: 'opensearch',
  service: 'opensearch',
  title: 'OpenSearch 2.19',
  mapperErrorType: 'mapper_parsing_exception',
  otherEngine: 'elasticsearch',
  otherEngineMessage: /not Elasticsearch.*set engine: opensearch/,
  truncateDeleteAll: 'deletes',
};

export const ELASTICSEARCH: EngineUnderTest = {
  engine: 'elasticsearch',
  service: 'elasticsearch',
  title: 'Elasticsearch 8.19 (reduced)',
  // Elasticsearch 8 reports a document its mapping refuses as document_parsing_exception.
  mapperErrorType: 'document_parsing_exception',
  otherEngine: 'opensearch',
  otherEngineMessage: /not OpenSearch.*set engine: elasticsearch/,
  truncateDeleteAll: 'halts',
};

/** Starts the engine's service unless it runs, and answers its URL. */
export async function engineUrl(target: EngineUnderTest): Promise<string> {
  const endpoints = await useServices(target.service);
  return endpoints[target.service].url;
}
