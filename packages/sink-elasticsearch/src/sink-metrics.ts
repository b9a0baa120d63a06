import type { PluginMetrics } from '@datamesh/core';

export type Counter = ReturnType<PluginMetrics['counter']>;
export type Gauge = ReturnType<PluginMetrics['gauge']>;
export type Histogram = ReturnType<PluginMetrics['histogram']>;

/** The sink's own metrics, named `datamesh_plugin_elasticsearch_<name>` by the runtime. */
export interface SinkMetrics {
  /** Bulk requests by outcome: `ok` (every item done), `item_errors` (some items retried or rejected), `failed` (no usable response). */
  readonly bulkRequests: Counter;
  readonly bulkRequestSeconds: Histogram;
  readonly documentsIndexed: Counter;
  readonly documentsDeleted: Counter;
  readonly staleWritesSkipped: Counter;
  readonly operationsCompacted: Counter;
  readonly retries: Counter;
  readonly bufferedBytes: Gauge;
}

export function sinkMetrics(metrics: PluginMetrics): SinkMetrics {
  return {
    bulkRequests: metrics.counter('bulk_requests_total', 'Bulk requests sent, by outcome.', ['outcome']),
    bulkRequestSeconds: metrics.histogram(
      'bulk_request_seconds',
      'Time of one bulk request, each attempt.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    documentsIndexed: metrics.counter('documents_indexed_total', 'Documents indexed (created or replaced).'),
    documentsDeleted: metrics.counter(
      'documents_deleted_total',
      'Deletes applied, including those of documents that were not there.',
    ),
    staleWritesSkipped: metrics.counter(
      'stale_writes_skipped_total',
      'Writes skipped because the index (or the same batch) already held a newer version of the document.',
    ),
    operationsCompacted: metrics.counter(
      'operations_compacted_total',
      'Operations replaced by a newer one for the same document before they were sent.',
    ),
    retries: metrics.counter(
      'retries_total',
      'Retries of requests (cause=request) and of bulk items (cause=items).',
      ['cause'],
    ),
    bufferedBytes: metrics.gauge(
      'buffered_bytes',
      'Bytes of bulk actions held in memory, waiting or in flight.',
    ),
  };
}
