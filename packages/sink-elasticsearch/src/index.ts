export { elasticsearchSink, createElasticsearchSinkTask } from './elasticsearch-sink.js';
export { elasticsearchSinkConfig, type ElasticsearchSinkConfig } from './sink-config.js';
export type { SearchEngine, BulkResult, BulkItemResult, IndexDefinition } from './search-engine.js';
export { SearchEngineError } from './search-engine.js';
export type { Engine, MappingOptions, StringMapping } from './index-mapping.js';
