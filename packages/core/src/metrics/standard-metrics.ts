/**
 * The metrics every task gets from the runtime without writing a line. Labels: pipeline, stage,
 * plugin, kind (source | processor | sink). Alert rules and dashboards are generated from these names.
 */
export const STANDARD_LABELS = ['pipeline', 'stage', 'plugin', 'kind'] as const;

export const METRIC = {
  eventsIn: 'datamesh_events_in_total',
  eventsOut: 'datamesh_events_out_total',
  errors: 'datamesh_errors_total',
  deadLetters: 'datamesh_dead_letters_total',
  processingSeconds: 'datamesh_processing_seconds',
  batchEvents: 'datamesh_batch_events',
  sourceLagSeconds: 'datamesh_source_lag_seconds',
  inputLagEvents: 'datamesh_input_lag_events',
  sinkFlushSeconds: 'datamesh_sink_flush_seconds',
  taskRestarts: 'datamesh_task_restarts_total',
  lastProgress: 'datamesh_last_progress_timestamp_seconds',
  taskUp: 'datamesh_task_up',
} as const;

export const METRIC_HELP: Record<keyof typeof METRIC, string> = {
  eventsIn: 'Events a task received (sources: read from the source system).',
  eventsOut: 'Events a task emitted (sinks: written and flushed).',
  errors: 'Errors a task met, retried or not.',
  deadLetters: 'Events sent to the dead-letter topic.',
  processingSeconds: 'Time to process one batch, from receipt to hand-off.',
  batchEvents: 'Events per batch.',
  sourceLagSeconds: 'Time between a change in the source system and the connector processing it.',
  inputLagEvents: 'Events in a task’s input topics not yet consumed by it.',
  sinkFlushSeconds: 'Time a sink flush took.',
  taskRestarts: 'Times a task was restarted after a failure.',
  lastProgress: 'Unix time at which the task last made progress (moved events or found none waiting).',
  taskUp: '1 while the task runs, 0 once it stopped or failed.',
};

export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
export const BATCH_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
