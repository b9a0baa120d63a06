import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PluginKind } from '../contract/plugin.js';
import { BATCH_BUCKETS, LATENCY_BUCKETS, METRIC, METRIC_HELP, STANDARD_LABELS } from './standard-metrics.js';

type Labels = Record<(typeof STANDARD_LABELS)[number], string>;

/** The standard metric families of one node, registered once on its registry. */
export class StandardMetrics {
  readonly eventsIn: Counter<string>;
  readonly eventsOut: Counter<string>;
  readonly errors: Counter<string>;
  readonly deadLetters: Counter<string>;
  readonly processingSeconds: Histogram<string>;
  readonly batchEvents: Histogram<string>;
  readonly sourceLagSeconds: Gauge<string>;
  readonly inputLagEvents: Gauge<string>;
  readonly sinkFlushSeconds: Histogram<string>;
  readonly taskRestarts: Counter<string>;
  readonly lastProgress: Gauge<string>;
  readonly taskUp: Gauge<string>;

  readonly registry: Registry;

  constructor(registry: Registry) {
    this.registry = registry;
    const labelNames = [...STANDARD_LABELS];
    const common = { registers: [registry], labelNames };
    this.eventsIn = new Counter({ name: METRIC.eventsIn, help: METRIC_HELP.eventsIn, ...common });
    this.eventsOut = new Counter({ name: METRIC.eventsOut, help: METRIC_HELP.eventsOut, ...common });
    this.errors = new Counter({ name: METRIC.errors, help: METRIC_HELP.errors, ...common });
    this.deadLetters = new Counter({ name: METRIC.deadLetters, help: METRIC_HELP.deadLetters, ...common });
    this.processingSeconds = new Histogram({
      name: METRIC.processingSeconds,
      help: METRIC_HELP.processingSeconds,
      buckets: LATENCY_BUCKETS,
      ...common,
    });
    this.batchEvents = new Histogram({
      name: METRIC.batchEvents,
      help: METRIC_HELP.batchEvents,
      buckets: BATCH_BUCKETS,
      ...common,
    });
    this.sourceLagSeconds = new Gauge({
      name: METRIC.sourceLagSeconds,
      help: METRIC_HELP.sourceLagSeconds,
      ...common,
    });
    this.inputLagEvents = new Gauge({
      name: METRIC.inputLagEvents,
      help: METRIC_HELP.inputLagEvents,
      ...common,
    });
    this.sinkFlushSeconds = new Histogram({
      name: METRIC.sinkFlushSeconds,
      help: METRIC_HELP.sinkFlushSeconds,
      buckets: LATENCY_BUCKETS,
      ...common,
    });
    this.taskRestarts = new Counter({ name: METRIC.taskRestarts, help: METRIC_HELP.taskRestarts, ...common });
    this.lastProgress = new Gauge({ name: METRIC.lastProgress, help: METRIC_HELP.lastProgress, ...common });
    this.taskUp = new Gauge({ name: METRIC.taskUp, help: METRIC_HELP.taskUp, ...common });
  }

  /** The metrics of one stage, with its labels bound. */
  forStage(pipeline: string, stage: string, plugin: string, kind: PluginKind): StageMetrics {
    return new StageMetrics(this, { pipeline, stage, plugin, kind });
  }
}

/** What the runtime records around one stage of a task. Plugins never see this object. */
export class StageMetrics {
  private readonly metrics: StandardMetrics;
  readonly labels: Labels;

  constructor(metrics: StandardMetrics, labels: Labels) {
    this.metrics = metrics;
    this.labels = labels;
    metrics.eventsIn.inc(labels, 0);
    metrics.eventsOut.inc(labels, 0);
    metrics.errors.inc(labels, 0);
    metrics.deadLetters.inc(labels, 0);
    metrics.taskRestarts.inc(labels, 0);
    this.progressed();
  }

  received(count: number): void {
    this.metrics.eventsIn.inc(this.labels, count);
    if (count > 0) this.metrics.batchEvents.observe(this.labels, count);
  }

  emitted(count: number): void {
    this.metrics.eventsOut.inc(this.labels, count);
  }

  failed(): void {
    this.metrics.errors.inc(this.labels);
  }

  deadLettered(count: number): void {
    this.metrics.deadLetters.inc(this.labels, count);
  }

  processed(seconds: number): void {
    this.metrics.processingSeconds.observe(this.labels, seconds);
  }

  flushed(seconds: number): void {
    this.metrics.sinkFlushSeconds.observe(this.labels, seconds);
  }

  sourceLag(seconds: number): void {
    this.metrics.sourceLagSeconds.set(this.labels, Math.max(0, seconds));
  }

  inputLag(events: number): void {
    this.metrics.inputLagEvents.set(this.labels, events);
  }

  restarted(): void {
    this.metrics.taskRestarts.inc(this.labels);
  }

  progressed(): void {
    this.metrics.lastProgress.set(this.labels, Date.now() / 1000);
  }

  up(running: boolean): void {
    this.metrics.taskUp.set(this.labels, running ? 1 : 0);
  }
}
