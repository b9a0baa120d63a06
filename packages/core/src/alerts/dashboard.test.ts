import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { StandardMetrics } from '../metrics/task-metrics.js';
import type { ObservedPlugin } from './alert-rules.js';
import {
  generateDashboard,
  type GrafanaDashboard,
  type GrafanaPanel,
  type GrafanaQueryVariable,
  type GrafanaTimeseriesPanel,
} from './dashboard.js';

const PLUGINS: readonly ObservedPlugin[] = [
  { name: 'datagen', kind: 'source' },
  { name: 'filter', kind: 'processor' },
  { name: 'sink-file', kind: 'sink' },
];

/** The series names the runtime really exposes: every standard family, with a histogram's three series. */
async function exposedSeriesNames(): Promise<Set<string>> {
  const registry = new Registry();
  new StandardMetrics(registry);
  const names = new Set<string>();
  for (const family of await registry.getMetricsAsJSON()) {
    if (String(family.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(family.name + suffix);
    } else {
      names.add(family.name);
    }
  }
  return names;
}

function isTimeseries(panel: GrafanaPanel): panel is GrafanaTimeseriesPanel {
  return panel.type === 'timeseries';
}

/** The timeseries panels under each row, by row title. */
function rows(dashboard: GrafanaDashboard): Map<string, GrafanaTimeseriesPanel[]> {
  const result = new Map<string, GrafanaTimeseriesPanel[]>();
  let current: GrafanaTimeseriesPanel[] | undefined;
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') {
      current = [];
      result.set(panel.title, current);
    } else {
      if (!current) throw new Error(`panel ${panel.id} comes before any row`);
      current.push(panel);
    }
  }
  return result;
}

const exprsOf = (panels: readonly GrafanaTimeseriesPanel[]): string[] =>
  panels.flatMap((p) => p.targets.map((t) => t.expr));

describe('generateDashboard', () => {
  const dashboard = generateDashboard(PLUGINS);

  it('is a schema 39 dashboard with datasource, pipeline and stage variables', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('datamesh-plugins');
    const [datasource, pipeline, stage, ...rest] = dashboard.templating.list;
    expect(rest).toEqual([]);
    expect(datasource).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    expect(pipeline).toMatchObject({ name: 'pipeline', type: 'query', includeAll: true, multi: true });
    expect(stage).toMatchObject({ name: 'stage', type: 'query', includeAll: true, multi: true });
    expect((pipeline as GrafanaQueryVariable).query.query).toMatch(
      /^label_values\(datamesh_[a-z_]+, pipeline\)$/,
    );
    expect((stage as GrafanaQueryVariable).query.query).toMatch(
      /^label_values\(datamesh_[a-z_]+\{pipeline=~"\$pipeline"\}, stage\)$/,
    );
    expect((pipeline as GrafanaQueryVariable).datasource.uid).toBe('${datasource}');
  });

  it('survives a JSON round trip unchanged', () => {
    expect(JSON.parse(JSON.stringify(dashboard))).toEqual(dashboard);
  });

  it('gives every panel a unique positive id', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(Number.isInteger(id) && id > 0).toBe(true);
  });

  it('lays panels out on the 24-column grid without overlaps, each row above its panels', () => {
    const boxes = dashboard.panels.map((p) => p.gridPos);
    for (const box of boxes) {
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.w).toBeLessThanOrEqual(24);
      expect(box.w).toBeGreaterThan(0);
      expect(box.h).toBeGreaterThan(0);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        if (!a || !b) continue;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `panels ${dashboard.panels[i]?.id} and ${dashboard.panels[j]?.id} overlap`).toBe(
          false,
        );
      }
    }
    // Reading order: y never decreases from one panel to the next within the list.
    for (let i = 1; i < boxes.length; i++) expect(boxes[i]?.y).toBeGreaterThanOrEqual(boxes[i - 1]?.y ?? 0);
    for (const panel of dashboard.panels.filter((p) => p.type === 'row')) {
      expect(panel.gridPos).toMatchObject({ x: 0, w: 24, h: 1 });
    }
  });

  it('has one row per plugin, in order', () => {
    expect([...rows(dashboard).keys()]).toEqual([
      'datagen (source)',
      'filter (processor)',
      'sink-file (sink)',
    ]);
  });

  it('queries only series the runtime exposes, of the row’s plugin, filtered by the variables', async () => {
    const exposed = await exposedSeriesNames();
    for (const plugin of PLUGINS) {
      const panels = rows(dashboard).get(`${plugin.name} (${plugin.kind})`) ?? [];
      expect(panels.length).toBeGreaterThan(0);
      for (const expr of exprsOf(panels)) {
        const selectors = [...expr.matchAll(/(datamesh_[a-z_]+)(\{[^}]*\})?/g)];
        expect(selectors.length, expr).toBeGreaterThan(0);
        for (const [, name, matchers] of selectors) {
          expect(exposed.has(name ?? ''), `${name} in ${expr}`).toBe(true);
          expect(matchers).toBe(`{plugin="${plugin.name}", pipeline=~"$pipeline", stage=~"$stage"}`);
        }
      }
    }
    for (const variable of dashboard.templating.list) {
      if (variable.type !== 'query') continue;
      const metric = /^label_values\((datamesh_[a-z_]+)/.exec(variable.query.query)?.[1];
      expect(exposed.has(metric ?? ''), variable.query.query).toBe(true);
    }
  });

  it('gives every timeseries panel targets with unique refIds on the datasource variable', () => {
    for (const panel of dashboard.panels.filter(isTimeseries)) {
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets.length).toBeGreaterThan(0);
      const refIds = panel.targets.map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const target of panel.targets) {
        expect(target.datasource.uid).toBe('${datasource}');
        expect(target.legendFormat).toContain('{{pipeline}}/{{stage}}');
      }
    }
  });

  it('shows the panels each kind needs', () => {
    const byRow = rows(dashboard);
    const titles = (row: string): string[] => (byRow.get(row) ?? []).map((p) => p.title);
    const common = [
      'Events in / out',
      'Errors and dead letters',
      'Error ratio',
      'Processing latency',
      'Batch size',
    ];
    const tail = ['Time since progress', 'Restarts and tasks up'];
    expect(titles('datagen (source)')).toEqual([...common, 'Source lag', ...tail]);
    expect(titles('filter (processor)')).toEqual([...common, 'Input lag', ...tail]);
    expect(titles('sink-file (sink)')).toEqual([...common, 'Input lag', 'Sink flush time', ...tail]);

    const exprs = (row: string): string => exprsOf(byRow.get(row) ?? []).join('\n');
    expect(exprs('datagen (source)')).toContain('datamesh_source_lag_seconds');
    expect(exprs('datagen (source)')).not.toContain('datamesh_input_lag_events');
    expect(exprs('filter (processor)')).toContain('datamesh_input_lag_events');
    expect(exprs('filter (processor)')).not.toContain('datamesh_sink_flush_seconds');
    expect(exprs('sink-file (sink)')).toContain('datamesh_sink_flush_seconds_bucket');
  });

  it('computes latency p50 and p99 from the histogram buckets', () => {
    const latency = rows(dashboard)
      .get('filter (processor)')
      ?.find((p) => p.title === 'Processing latency');
    expect(latency?.fieldConfig.defaults.unit).toBe('s');
    expect(latency?.targets.map((t) => t.expr)).toEqual([
      'histogram_quantile(0.5, sum by (pipeline, stage, le) (rate(datamesh_processing_seconds_bucket{plugin="filter", pipeline=~"$pipeline", stage=~"$stage"}[$__rate_interval])))',
      'histogram_quantile(0.99, sum by (pipeline, stage, le) (rate(datamesh_processing_seconds_bucket{plugin="filter", pipeline=~"$pipeline", stage=~"$stage"}[$__rate_interval])))',
    ]);
  });

  it('takes a title, uid and tags, and refuses bad plugin names', () => {
    const custom = generateDashboard(PLUGINS, { title: 'Orders', uid: 'orders', tags: ['team-a'] });
    expect(custom).toMatchObject({ title: 'Orders', uid: 'orders', tags: ['team-a'] });
    expect(generateDashboard([]).panels).toEqual([]);
    expect(() => generateDashboard([{ name: 'x"}', kind: 'sink' }])).toThrow(/kebab-case/);
  });
});
