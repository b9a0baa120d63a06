import { METRIC } from '../metrics/standard-metrics.js';
import { checkObservedPlugins, type ObservedPlugin } from './alert-rules.js';

export interface DashboardOptions {
  readonly title?: string;
  readonly uid?: string;
  readonly tags?: readonly string[];
  /** Dashboard refresh interval, e.g. `30s`. */
  readonly refresh?: string;
  /** Time range shown on open, e.g. `now-1h`. */
  readonly from?: string;
}

export interface GrafanaDatasourceRef {
  readonly type: 'prometheus';
  readonly uid: string;
}

export interface GrafanaTarget {
  readonly refId: string;
  readonly datasource: GrafanaDatasourceRef;
  readonly expr: string;
  readonly legendFormat: string;
  readonly range: true;
}

export interface GrafanaGridPos {
  readonly h: number;
  readonly w: number;
  readonly x: number;
  readonly y: number;
}

export interface GrafanaTimeseriesPanel {
  readonly id: number;
  readonly type: 'timeseries';
  readonly title: string;
  readonly description: string;
  readonly datasource: GrafanaDatasourceRef;
  readonly gridPos: GrafanaGridPos;
  readonly targets: readonly GrafanaTarget[];
  readonly fieldConfig: {
    readonly defaults: {
      readonly unit: string;
      readonly min?: number;
      readonly custom: {
        readonly drawStyle: 'line' | 'bars';
        readonly axisLabel: string;
        readonly fillOpacity: number;
      };
    };
    readonly overrides: readonly never[];
  };
  readonly options: {
    readonly legend: {
      readonly displayMode: 'list';
      readonly placement: 'bottom';
      readonly showLegend: true;
    };
    readonly tooltip: { readonly mode: 'multi'; readonly sort: 'desc' };
  };
}

export interface GrafanaRowPanel {
  readonly id: number;
  readonly type: 'row';
  readonly title: string;
  readonly collapsed: false;
  readonly gridPos: GrafanaGridPos;
  readonly panels: readonly never[];
}

export type GrafanaPanel = GrafanaRowPanel | GrafanaTimeseriesPanel;

export interface GrafanaDatasourceVariable {
  readonly name: 'datasource';
  readonly label: string;
  readonly type: 'datasource';
  readonly query: 'prometheus';
  readonly current: Record<string, never>;
  readonly hide: 0;
  readonly refresh: 1;
  readonly regex: '';
}

export interface GrafanaQueryVariable {
  readonly name: string;
  readonly label: string;
  readonly type: 'query';
  readonly datasource: GrafanaDatasourceRef;
  readonly definition: string;
  readonly query: { readonly query: string; readonly refId: string };
  readonly current: Record<string, never>;
  readonly includeAll: true;
  readonly allValue: '.*';
  readonly multi: true;
  readonly hide: 0;
  /** 2: refresh when the time range changes. */
  readonly refresh: 2;
  readonly sort: 1;
  readonly regex: '';
}

export type GrafanaVariable = GrafanaDatasourceVariable | GrafanaQueryVariable;

export interface GrafanaDashboard {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly schemaVersion: number;
  readonly version: number;
  readonly editable: boolean;
  readonly graphTooltip: number;
  readonly timezone: string;
  readonly refresh: string;
  readonly time: { readonly from: string; readonly to: string };
  readonly templating: { readonly list: readonly GrafanaVariable[] };
  readonly annotations: { readonly list: readonly object[] };
  readonly panels: readonly GrafanaPanel[];
}

const DATASOURCE: GrafanaDatasourceRef = { type: 'prometheus', uid: '${datasource}' };
const BY = 'by (pipeline, stage)';
const LEGEND = '{{pipeline}}/{{stage}}';
const PANEL_WIDTH = 8;
const PANEL_HEIGHT = 8;
const PANELS_PER_LINE = 24 / PANEL_WIDTH;

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  readonly axisLabel: string;
  readonly bars?: boolean;
  readonly queries: readonly { readonly expr: string; readonly legend: string }[];
}

function panelSpecs(plugin: ObservedPlugin): PanelSpec[] {
  const sel = `{plugin="${plugin.name}", pipeline=~"$pipeline", stage=~"$stage"}`;
  const rate = (metric: string): string => `sum ${BY} (rate(${metric}${sel}[$__rate_interval]))`;
  const quantile = (q: number, histogram: string): string =>
    `histogram_quantile(${q}, sum by (pipeline, stage, le) (rate(${histogram}_bucket${sel}[$__rate_interval])))`;

  const specs: PanelSpec[] = [
    {
      title: 'Events in / out',
      description:
        plugin.kind === 'source'
          ? 'Events read from the source system (in) and written to the transport (out), per second.'
          : plugin.kind === 'sink'
            ? 'Events received (in) and written and flushed to the target (out), per second.'
            : 'Events received (in) and emitted (out), per second.',
      unit: 'short',
      axisLabel: 'events/s',
      queries: [
        { expr: rate(METRIC.eventsIn), legend: `${LEGEND} in` },
        { expr: rate(METRIC.eventsOut), legend: `${LEGEND} out` },
      ],
    },
    {
      title: 'Errors and dead letters',
      description: 'Errors met (retried or not) and events sent to the dead-letter topic, per second.',
      unit: 'short',
      axisLabel: 'per second',
      queries: [
        { expr: rate(METRIC.errors), legend: `${LEGEND} errors` },
        { expr: rate(METRIC.deadLetters), legend: `${LEGEND} dead letters` },
      ],
    },
    {
      title: 'Error ratio',
      description: 'Errors per event received; DatameshErrorRateHigh fires above its threshold.',
      unit: 'percentunit',
      axisLabel: '',
      queries: [{ expr: `${rate(METRIC.errors)} / (${rate(METRIC.eventsIn)} > 0)`, legend: LEGEND }],
    },
    {
      title: 'Processing latency',
      description: 'Time to process one batch, from receipt to hand-off: median and 99th percentile.',
      unit: 's',
      axisLabel: '',
      queries: [
        { expr: quantile(0.5, METRIC.processingSeconds), legend: `${LEGEND} p50` },
        { expr: quantile(0.99, METRIC.processingSeconds), legend: `${LEGEND} p99` },
      ],
    },
    {
      title: 'Batch size',
      description: 'Events per batch: median and mean.',
      unit: 'short',
      axisLabel: 'events',
      queries: [
        { expr: quantile(0.5, METRIC.batchEvents), legend: `${LEGEND} p50` },
        {
          expr: `${rate(`${METRIC.batchEvents}_sum`)} / ${rate(`${METRIC.batchEvents}_count`)}`,
          legend: `${LEGEND} mean`,
        },
      ],
    },
    plugin.kind === 'source'
      ? {
          title: 'Source lag',
          description: 'Time between a change in the source system and the connector processing it.',
          unit: 's',
          axisLabel: '',
          queries: [{ expr: `max ${BY} (${METRIC.sourceLagSeconds}${sel})`, legend: LEGEND }],
        }
      : {
          title: 'Input lag',
          description: 'Events in the input topics not yet consumed by the stage.',
          unit: 'short',
          axisLabel: 'events',
          queries: [{ expr: `sum ${BY} (${METRIC.inputLagEvents}${sel})`, legend: LEGEND }],
        },
  ];
  if (plugin.kind === 'sink') {
    specs.push({
      title: 'Sink flush time',
      description:
        'Time a flush took (the durability point before offsets are committed): median and 99th percentile.',
      unit: 's',
      axisLabel: '',
      queries: [
        { expr: quantile(0.5, METRIC.sinkFlushSeconds), legend: `${LEGEND} p50` },
        { expr: quantile(0.99, METRIC.sinkFlushSeconds), legend: `${LEGEND} p99` },
      ],
    });
  }
  specs.push(
    {
      title: 'Time since progress',
      description: 'Seconds since a task of the stage last moved events or found none waiting.',
      unit: 's',
      axisLabel: '',
      queries: [{ expr: `time() - min ${BY} (${METRIC.lastProgress}${sel})`, legend: LEGEND }],
    },
    {
      title: 'Restarts and tasks up',
      description: 'Task restarts after a failure, and the number of running tasks.',
      unit: 'short',
      axisLabel: '',
      bars: true,
      queries: [
        {
          expr: `sum ${BY} (increase(${METRIC.taskRestarts}${sel}[$__rate_interval]))`,
          legend: `${LEGEND} restarts`,
        },
        { expr: `sum ${BY} (${METRIC.taskUp}${sel})`, legend: `${LEGEND} tasks up` },
      ],
    },
  );
  return specs;
}

function timeseries(id: number, spec: PanelSpec, gridPos: GrafanaGridPos): GrafanaTimeseriesPanel {
  return {
    id,
    type: 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos,
    targets: spec.queries.map((query, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
      range: true,
    })),
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        min: 0,
        custom: {
          drawStyle: spec.bars === true ? 'bars' : 'line',
          axisLabel: spec.axisLabel,
          fillOpacity: 10,
        },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

function queryVariable(name: string, label: string, query: string): GrafanaQueryVariable {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    current: {},
    includeAll: true,
    allValue: '.*',
    multi: true,
    hide: 0,
    refresh: 2,
    sort: 1,
    regex: '',
  };
}

/**
 * A Grafana dashboard (JSON model, schema version 39) over the standard task metrics: a `datasource`
 * variable (any Prometheus), `pipeline` and `stage` variables, and one row per plugin with its events,
 * errors, latency, batch size, lag, flush time (sinks), progress and restarts.
 */
export function generateDashboard(
  plugins: readonly ObservedPlugin[],
  options: DashboardOptions = {},
): GrafanaDashboard {
  checkObservedPlugins(plugins);
  const panels: GrafanaPanel[] = [];
  let id = 0;
  let y = 0;
  for (const plugin of plugins) {
    panels.push({
      id: ++id,
      type: 'row',
      title: `${plugin.name} (${plugin.kind})`,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    const specs = panelSpecs(plugin);
    specs.forEach((spec, i) => {
      const gridPos = {
        h: PANEL_HEIGHT,
        w: PANEL_WIDTH,
        x: (i % PANELS_PER_LINE) * PANEL_WIDTH,
        y: y + Math.floor(i / PANELS_PER_LINE) * PANEL_HEIGHT,
      };
      panels.push(timeseries(++id, spec, gridPos));
    });
    y += Math.ceil(specs.length / PANELS_PER_LINE) * PANEL_HEIGHT;
  }

  return {
    uid: options.uid ?? 'datamesh-plugins',
    title: options.title ?? 'datamesh plugins',
    description: 'Standard task metrics of every registered datamesh plugin. Generated by @datamesh/core.',
    tags: [...(options.tags ?? ['datamesh'])],
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    timezone: 'browser',
    refresh: options.refresh ?? '30s',
    time: { from: options.from ?? 'now-1h', to: 'now' },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
          regex: '',
        },
        queryVariable('pipeline', 'Pipeline', `label_values(${METRIC.eventsIn}, pipeline)`),
        queryVariable('stage', 'Stage', `label_values(${METRIC.eventsIn}{pipeline=~"$pipeline"}, stage)`),
      ],
    },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    panels,
  };
}
