import { stringify } from 'yaml';
import type { PluginKind } from '../contract/plugin.js';
import { METRIC } from '../metrics/standard-metrics.js';

/** What the generators need to know about a registered plugin. */
export interface ObservedPlugin {
  readonly name: string;
  readonly kind: PluginKind;
}

/** Where the alerts fire and how long they wait. Durations use Prometheus notation (`30s`, `5m`, `1h`). */
export interface AlertThresholds {
  /** Range over which rates and increases of counters are taken. */
  readonly rateWindow: string;
  /** Share of received events that end in an error before `DatameshErrorRateHigh` fires (0.05 = 5 %). */
  readonly errorRatio: number;
  /** How long the error ratio must stay above `errorRatio`. */
  readonly errorRateFor: string;
  /** How long errors must keep coming while no event arrives before `DatameshErrorsWithoutTraffic` fires. */
  readonly errorsWithoutTrafficFor: string;
  /** Seconds a running task may go without progress before `DatameshProgressStalled` fires. */
  readonly progressStaleSeconds: number;
  /** How long input may wait unconsumed (processors, sinks) before `DatameshInputStalled` fires. */
  readonly inputStalledFor: string;
  /** Range over which the growth of a lag is measured. */
  readonly lagWindow: string;
  /** Source lag, in seconds, under which a growing lag is not worth an alert. */
  readonly sourceLagFloorSeconds: number;
  /** Input lag, in events, under which a growing lag is not worth an alert. */
  readonly inputLagFloorEvents: number;
  /** How long a lag must keep growing above its floor. */
  readonly lagGrowingFor: string;
  /** Range over which restarts are counted. */
  readonly restartWindow: string;
  /** `DatameshTaskRestarting` fires when a stage restarted more than this many times in `restartWindow`. */
  readonly maxRestarts: number;
  /** Range over which dead-lettered events are counted; any at all fires `DatameshDeadLetters`. */
  readonly deadLetterWindow: string;
}

export type AlertRuleOptions = Partial<AlertThresholds>;

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = {
  rateWindow: '5m',
  errorRatio: 0.05,
  errorRateFor: '5m',
  errorsWithoutTrafficFor: '5m',
  progressStaleSeconds: 600,
  inputStalledFor: '10m',
  lagWindow: '10m',
  sourceLagFloorSeconds: 60,
  inputLagFloorEvents: 1000,
  lagGrowingFor: '10m',
  restartWindow: '15m',
  maxRestarts: 3,
  deadLetterWindow: '10m',
};

/** The alerts generated for plugins; lag and input alerts exist only for the kinds they apply to. */
export const ALERT = {
  errorRateHigh: 'DatameshErrorRateHigh',
  errorsWithoutTraffic: 'DatameshErrorsWithoutTraffic',
  progressStalled: 'DatameshProgressStalled',
  inputStalled: 'DatameshInputStalled',
  lagGrowing: 'DatameshLagGrowing',
  taskRestarting: 'DatameshTaskRestarting',
  deadLetters: 'DatameshDeadLetters',
} as const;

export type AlertName = (typeof ALERT)[keyof typeof ALERT];
export type AlertSeverity = 'warning' | 'critical';

/** One alerting rule, shaped as Prometheus reads it. */
export interface AlertRule {
  readonly alert: AlertName;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: AlertSeverity; readonly plugin: string; readonly kind: PluginKind };
  readonly annotations: { readonly summary: string; readonly description: string };
}

export interface AlertRuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

export interface AlertRuleFile {
  readonly groups: readonly AlertRuleGroup[];
}

const PLUGIN_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const DURATION = /^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/;
const BY = 'by (pipeline, stage)';
const WHERE = '{{ $labels.pipeline }}/{{ $labels.stage }}';

/**
 * Refuses what would make invalid rules: a name that is not a plugin id (it goes into PromQL and templates)
 * or the same name twice (Prometheus refuses two groups of one name).
 */
export function checkObservedPlugins(plugins: readonly ObservedPlugin[]): void {
  const seen = new Set<string>();
  for (const plugin of plugins) {
    if (!PLUGIN_NAME.test(plugin.name)) {
      throw new Error(`plugin name "${plugin.name}" must be kebab-case (e.g. "postgres", "sink-file")`);
    }
    if (plugin.kind !== 'source' && plugin.kind !== 'processor' && plugin.kind !== 'sink') {
      throw new Error(`plugin "${plugin.name}" has unknown kind "${String(plugin.kind)}"`);
    }
    if (seen.has(plugin.name)) throw new Error(`plugin "${plugin.name}" is listed twice`);
    seen.add(plugin.name);
  }
}

/** The rule group name of a plugin: `datamesh-plugin-<name>`. */
export function alertGroupName(pluginName: string): string {
  return `datamesh-plugin-${pluginName}`;
}

function resolveThresholds(options: AlertRuleOptions): AlertThresholds {
  const thresholds: AlertThresholds = { ...DEFAULT_ALERT_THRESHOLDS, ...options };
  for (const [key, value] of Object.entries(thresholds)) {
    if (typeof value === 'string') {
      if (value === '' || !DURATION.test(value) || !/[1-9]/.test(value)) {
        throw new RangeError(
          `alert threshold ${key} must be a positive Prometheus duration (e.g. "5m"), got "${value}"`,
        );
      }
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`alert threshold ${key} must be a finite number ≥ 0, got ${String(value)}`);
    }
  }
  if (thresholds.errorRatio <= 0 || thresholds.errorRatio > 1) {
    throw new RangeError(`alert threshold errorRatio must be in (0, 1], got ${thresholds.errorRatio}`);
  }
  return thresholds;
}

/** What an operator should check first, by the kind of the failing plugin. */
function suspects(kind: PluginKind): string {
  switch (kind) {
    case 'source':
      return 'the source system: is it reachable, are the credentials valid, does the replication slot, binlog or changefeed still exist';
    case 'processor':
      return 'recent changes to the stage configuration and to the schemas of its inputs';
    case 'sink':
      return 'the target system: is it reachable, does it accept writes, and is datamesh_sink_flush_seconds rising';
  }
}

function rulesFor(plugin: ObservedPlugin, t: AlertThresholds): AlertRule[] {
  const sel = `{plugin="${plugin.name}"}`;
  const what = `${plugin.name} ${plugin.kind}`;
  const labels = (severity: AlertSeverity): AlertRule['labels'] => ({
    severity,
    plugin: plugin.name,
    kind: plugin.kind,
  });
  const logs = `the task logs (pipeline={{ $labels.pipeline }}, stage={{ $labels.stage }})`;
  const errorsRate = `sum ${BY} (rate(${METRIC.errors}${sel}[${t.rateWindow}]))`;
  const inRate = `sum ${BY} (rate(${METRIC.eventsIn}${sel}[${t.rateWindow}]))`;

  const rules: AlertRule[] = [
    {
      alert: ALERT.errorRateHigh,
      expr: [`${errorsRate}`, `  / (${inRate} > 0)`, `> ${t.errorRatio}`].join('\n'),
      for: t.errorRateFor,
      labels: labels('warning'),
      annotations: {
        summary: `${WHERE}: {{ $value | humanizePercentage }} of events fail in ${what}`,
        description:
          `Errors in stage {{ $labels.stage }} of pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) exceeded ` +
          `${t.errorRatio * 100}% of the events it received over ${t.rateWindow}, for ${t.errorRateFor}. ` +
          `Look at ${logs} for the error, at datamesh_dead_letters_total and the dead-letter topic for the events ` +
          `that failed, and at ${suspects(plugin.kind)}.`,
      },
    },
    {
      alert: ALERT.errorsWithoutTraffic,
      expr: [
        `(sum ${BY} (increase(${METRIC.errors}${sel}[${t.rateWindow}])) > 0)`,
        `unless on (pipeline, stage)`,
        `(sum ${BY} (increase(${METRIC.eventsIn}${sel}[${t.rateWindow}])) > 0)`,
      ].join('\n'),
      for: t.errorsWithoutTrafficFor,
      labels: labels('critical'),
      annotations: {
        summary: `${WHERE}: {{ $value | humanize }} errors in ${t.rateWindow} and no events received by ${what}`,
        description:
          `Stage {{ $labels.stage }} of pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) keeps failing ` +
          `while no event reaches it, for ${t.errorsWithoutTrafficFor}: it is likely unable to connect or to start. ` +
          `Look at ${logs} for the error and at ${suspects(plugin.kind)}.`,
      },
    },
    {
      alert: ALERT.progressStalled,
      expr: [
        `max ${BY} (`,
        `  (time() - ${METRIC.lastProgress}${sel})`,
        `  and (${METRIC.taskUp}${sel} == 1)`,
        `) > ${t.progressStaleSeconds}`,
      ].join('\n'),
      labels: labels('critical'),
      annotations: {
        summary: `${WHERE}: ${what} made no progress for {{ $value | humanizeDuration }}`,
        description:
          `A running task of stage {{ $labels.stage }} in pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) ` +
          `has neither moved events nor found its input empty for more than ${t.progressStaleSeconds}s. ` +
          `Look at ${logs} for a blocked read, write or flush, at datamesh_task_up and the node's /health, and at ` +
          `${suspects(plugin.kind)}.`,
      },
    },
  ];

  if (plugin.kind !== 'source') {
    rules.push({
      alert: ALERT.inputStalled,
      expr: [
        `(sum ${BY} (${METRIC.inputLagEvents}${sel}) > 0)`,
        `and on (pipeline, stage)`,
        `(${inRate} == 0)`,
      ].join('\n'),
      for: t.inputStalledFor,
      labels: labels('critical'),
      annotations: {
        summary: `${WHERE}: {{ $value | humanize }} events wait in the input of ${what} and none is consumed`,
        description:
          `Stage {{ $labels.stage }} of pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) has events waiting ` +
          `in its input topics but received none for ${t.inputStalledFor}. Look at datamesh_task_up and ` +
          `datamesh_task_restarts_total for the stage, at ${logs}, and at the consumer group of its input topics.`,
      },
    });
  }

  if (plugin.kind === 'source') {
    rules.push({
      alert: ALERT.lagGrowing,
      expr: [
        `(max ${BY} (${METRIC.sourceLagSeconds}${sel}) > ${t.sourceLagFloorSeconds})`,
        `and on (pipeline, stage)`,
        `(max ${BY} (deriv(${METRIC.sourceLagSeconds}${sel}[${t.lagWindow}])) > 0)`,
      ].join('\n'),
      for: t.lagGrowingFor,
      labels: labels('warning'),
      annotations: {
        summary: `${WHERE}: ${what} is {{ $value | humanizeDuration }} behind its source and falling further behind`,
        description:
          `The source lag of stage {{ $labels.stage }} in pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) ` +
          `is above ${t.sourceLagFloorSeconds}s and has grown for ${t.lagGrowingFor}. Look at the write load on the ` +
          `source system, at datamesh_processing_seconds and datamesh_batch_events for this stage, at the transport ` +
          `it writes to, and at ${logs}; the source keeps its log (replication slot, binlog) until it catches up.`,
      },
    });
  } else {
    rules.push({
      alert: ALERT.lagGrowing,
      expr: [
        `(sum ${BY} (${METRIC.inputLagEvents}${sel}) > ${t.inputLagFloorEvents})`,
        `and on (pipeline, stage)`,
        `(sum ${BY} (deriv(${METRIC.inputLagEvents}${sel}[${t.lagWindow}])) > 0)`,
      ].join('\n'),
      for: t.lagGrowingFor,
      labels: labels('warning'),
      annotations: {
        summary: `${WHERE}: {{ $value | humanize }} events wait in the input of ${what} and the backlog grows`,
        description:
          `The input lag of stage {{ $labels.stage }} in pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) ` +
          `is above ${t.inputLagFloorEvents} events and has grown for ${t.lagGrowingFor}: it consumes slower than ` +
          `its inputs produce. Look at datamesh_processing_seconds` +
          (plugin.kind === 'sink' ? ' and datamesh_sink_flush_seconds' : '') +
          ` for this stage, at ${logs}, and consider more partitions or tasks for it.`,
      },
    });
  }

  rules.push(
    {
      alert: ALERT.taskRestarting,
      expr: `sum ${BY} (increase(${METRIC.taskRestarts}${sel}[${t.restartWindow}])) > ${t.maxRestarts}`,
      labels: labels('critical'),
      annotations: {
        summary: `${WHERE}: ${what} restarted {{ $value | humanize }} times in ${t.restartWindow}`,
        description:
          `Tasks of stage {{ $labels.stage }} in pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) restarted ` +
          `more than ${t.maxRestarts} times in ${t.restartWindow}: they fail again after each start. Look at ` +
          `${logs} for the failure that precedes each restart, at datamesh_errors_total, and at ` +
          `${suspects(plugin.kind)}.`,
      },
    },
    {
      alert: ALERT.deadLetters,
      expr: `sum ${BY} (increase(${METRIC.deadLetters}${sel}[${t.deadLetterWindow}])) > 0`,
      labels: labels('warning'),
      annotations: {
        summary: `${WHERE}: ${what} sent {{ $value | humanize }} events to the dead-letter topic in ${t.deadLetterWindow}`,
        description:
          `Stage {{ $labels.stage }} of pipeline {{ $labels.pipeline }} (plugin ${plugin.name}) could not handle ` +
          `some events and sent them, with their error, to the dead-letter topic. Read that topic for the events ` +
          `and errors, look at ${logs}, and replay the events once the cause is fixed.`,
      },
    },
  );
  return rules;
}

/** The alert rules of the plugins, one group per plugin, as a value. */
export function alertRuleGroups(
  plugins: readonly ObservedPlugin[],
  options: AlertRuleOptions = {},
): AlertRuleFile {
  checkObservedPlugins(plugins);
  const thresholds = resolveThresholds(options);
  return {
    groups: plugins.map((plugin) => ({
      name: alertGroupName(plugin.name),
      rules: rulesFor(plugin, thresholds),
    })),
  };
}

/**
 * A Prometheus rules file (YAML) alerting on the standard metrics of every task of the given plugins: error
 * rate, errors without traffic, stalled progress or input, growing lag, restarts and dead letters. One
 * group per plugin (`datamesh-plugin-<name>`); expressions select `plugin="<name>"` and aggregate by
 * pipeline and stage, and every alert carries `plugin`, `kind` and `severity` labels.
 */
export function generateAlertRules(
  plugins: readonly ObservedPlugin[],
  options: AlertRuleOptions = {},
): string {
  const file = alertRuleGroups(plugins, options);
  const header =
    '# Generated by @datamesh/core generateAlertRules from the standard task metrics. Do not edit.\n';
  return header + stringify(file, { lineWidth: 0 });
}
