// Proves the generated rules and dashboard queries with the real promtool: rules check and unit tests from
// synthetic series (every alert fires on a bad series and stays quiet on a healthy one), PromQL parse checks
// of the dashboard, and a lint of the runtime's real exposition. Needs promtool on PATH; never skips.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { PluginKind } from '../contract/plugin.js';
import { METRIC } from '../metrics/standard-metrics.js';
import { StandardMetrics } from '../metrics/task-metrics.js';
import {
  ALERT,
  alertRuleGroups,
  generateAlertRules,
  type AlertName,
  type AlertRule,
  type ObservedPlugin,
} from './alert-rules.js';
import { generateDashboard } from './dashboard.js';

const INSTALL_HINT = 'run: npm run services -- install prometheus';

function findOnPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return join(dir, bin);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const PROMTOOL = findOnPath('promtool');

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function promtool(args: readonly string[], input?: string): Run {
  if (!PROMTOOL) throw new Error(`promtool is not on PATH; ${INSTALL_HINT}`);
  const result = spawnSync(PROMTOOL, args, { encoding: 'utf8', input: input ?? '' });
  if (result.error) throw new Error(`could not run promtool: ${result.error.message}; ${INSTALL_HINT}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const output = (run: Run): string => `${run.stdout}${run.stderr}`;

// ---------------------------------------------------------------------------------------------------------
// Synthetic series. One sample a minute from 0m to 40m; alerts are evaluated at 30m.

const PLUGINS: readonly ObservedPlugin[] = [
  { name: 'datagen', kind: 'source' },
  { name: 'filter', kind: 'processor' },
  { name: 'sink-file', kind: 'sink' },
];
const PIPELINE = 'orders';
const stageOf = (plugin: ObservedPlugin): string => `${plugin.name}-stage`;
const EVAL_TIME = '30m';

type Series = Partial<Record<keyof typeof METRIC, string>>;

/** A task doing well: 10 events/s in and out, no errors, progress every scrape, small lag. */
function healthy(kind: PluginKind): Series {
  return {
    eventsIn: '0+600x40',
    eventsOut: '0+600x40',
    errors: '0x40',
    deadLetters: '0x40',
    taskRestarts: '0x40',
    lastProgress: '0+60x40',
    taskUp: '1x40',
    ...(kind === 'source' ? { sourceLagSeconds: '2x40' } : { inputLagEvents: '20x40' }),
  };
}

interface Case {
  readonly name: string;
  /** Series replacing the healthy ones. */
  readonly series: Series;
  /** `$value` as the alert's annotations render it, when the alert must fire; undefined: it must stay quiet. */
  readonly fires?: string;
}

/** For each alert, the cases per kind: at least one that fires and one that stays quiet. */
const CASES: Record<AlertName, (kind: PluginKind) => readonly Case[]> = {
  [ALERT.errorRateHigh]: () => [
    { name: '20% of events fail', series: { errors: '0+120x40' }, fires: '20%' },
    { name: '1% of events fail', series: { errors: '0+6x40' } },
    { name: 'healthy', series: {} },
  ],
  [ALERT.errorsWithoutTraffic]: () => [
    {
      name: 'errors every minute, no events',
      series: { eventsIn: '0x40', eventsOut: '0x40', errors: '0+1x40' },
      fires: '5',
    },
    { name: 'errors while events flow', series: { errors: '0+6x40' } },
    { name: 'no events and no errors', series: { eventsIn: '0x40', eventsOut: '0x40' } },
  ],
  [ALERT.progressStalled]: () => [
    { name: 'running, last progress at 10m', series: { lastProgress: '0+60x10 600x30' }, fires: '20m 0s' },
    { name: 'healthy', series: {} },
    {
      name: 'stopped at 10m, last progress at 10m',
      series: { lastProgress: '0+60x10 600x30', taskUp: '1x10 0x30' },
    },
  ],
  [ALERT.inputStalled]: () => [
    {
      name: '500 events waiting, none consumed',
      series: { inputLagEvents: '500x40', eventsIn: '6000x40', eventsOut: '6000x40' },
      fires: '500',
    },
    { name: '500 events waiting while consuming', series: { inputLagEvents: '500x40' } },
    {
      name: 'nothing waiting, nothing consumed',
      series: { inputLagEvents: '0x40', eventsIn: '0x40', eventsOut: '0x40' },
    },
  ],
  [ALERT.lagGrowing]: (kind) =>
    kind === 'source'
      ? [
          { name: 'source lag grows 10s a minute', series: { sourceLagSeconds: '0+10x40' }, fires: '5m 0s' },
          { name: 'source lag grows but stays under the floor', series: { sourceLagSeconds: '0+1x40' } },
          { name: 'source lag high but steady', series: { sourceLagSeconds: '300x40' } },
          { name: 'healthy', series: {} },
        ]
      : [
          {
            name: 'input lag grows 100 events a minute',
            series: { inputLagEvents: '0+100x40' },
            fires: '3k',
          },
          { name: 'input lag grows but stays under the floor', series: { inputLagEvents: '0+10x40' } },
          { name: 'input lag high but steady', series: { inputLagEvents: '5000x40' } },
          { name: 'healthy', series: {} },
        ],
  [ALERT.taskRestarting]: () => [
    { name: 'a restart every minute', series: { taskRestarts: '0+1x40' }, fires: '15' },
    { name: 'one restart', series: { taskRestarts: '0x20 1x20' } },
    { name: 'healthy', series: {} },
  ],
  [ALERT.deadLetters]: () => [
    { name: '3 events dead-lettered at 26m', series: { deadLetters: '0x25 3x15' }, fires: '3' },
    { name: 'healthy', series: {} },
  ],
};

function seriesLabels(plugin: ObservedPlugin): string {
  const labels = {
    pipeline: PIPELINE,
    stage: stageOf(plugin),
    plugin: plugin.name,
    kind: plugin.kind,
    instance: 'node-1:9464',
    job: 'datamesh',
  };
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

/** The annotation as Prometheus renders it for the synthetic stage, with `$value` already formatted. */
function render(template: string, labels: Record<string, string>, value: string): string {
  return template
    .replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, name: string) => labels[name] ?? '')
    .replace(/\{\{ \$value(?: \| [A-Za-z]+)? \}\}/g, value);
}

function unitTest(plugin: ObservedPlugin, rule: AlertRule, testCase: Case): object {
  const series = { ...healthy(plugin.kind), ...testCase.series };
  const seriesLabelText = seriesLabels(plugin);
  const labels = { pipeline: PIPELINE, stage: stageOf(plugin), ...rule.labels };
  return {
    name: `${plugin.name} ${rule.alert}: ${testCase.name}`,
    interval: '1m',
    input_series: Object.entries(series).map(([key, values]) => ({
      series: `${METRIC[key as keyof typeof METRIC]}${seriesLabelText}`,
      values,
    })),
    alert_rule_test: [
      {
        eval_time: EVAL_TIME,
        alertname: rule.alert,
        exp_alerts:
          testCase.fires === undefined
            ? []
            : [
                {
                  exp_labels: labels,
                  exp_annotations: {
                    summary: render(rule.annotations.summary, labels, testCase.fires),
                    description: render(rule.annotations.description, labels, testCase.fires),
                  },
                },
              ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------

describe('generated alert rules and dashboard, checked by promtool', () => {
  let dir = '';
  const RULES = 'rules.yml';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'datamesh-alerts-'));
    writeFileSync(join(dir, RULES), generateAlertRules(PLUGINS));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds promtool on PATH', () => {
    expect(PROMTOOL, `promtool is not on PATH; ${INSTALL_HINT}`).toBeDefined();
    const version = promtool(['--version']);
    expect(version.status).toBe(0);
  });

  it('passes promtool check rules', () => {
    const run = promtool(['check', 'rules', join(dir, RULES)]);
    const total = alertRuleGroups(PLUGINS).groups.reduce((n, g) => n + g.rules.length, 0);
    expect(run.status, output(run)).toBe(0);
    expect(run.stdout).toContain(`SUCCESS: ${total} rules found`);
  });

  it('has a firing and a quiet case for every generated alert', () => {
    for (const plugin of PLUGINS) {
      const group = alertRuleGroups([plugin]).groups[0];
      for (const rule of group?.rules ?? []) {
        const cases = CASES[rule.alert](plugin.kind);
        expect(
          cases.some((c) => c.fires !== undefined),
          `${plugin.name} ${rule.alert} fires`,
        ).toBe(true);
        expect(
          cases.some((c) => c.fires === undefined),
          `${plugin.name} ${rule.alert} quiet`,
        ).toBe(true);
      }
    }
  });

  const alertsOf = (plugin: ObservedPlugin): readonly AlertRule[] =>
    alertRuleGroups([plugin]).groups[0]?.rules ?? [];

  for (const plugin of PLUGINS) {
    for (const rule of alertsOf(plugin)) {
      it(`promtool test rules: ${rule.alert} for ${plugin.name} (${plugin.kind}) fires on bad series only`, () => {
        const cases = CASES[rule.alert](plugin.kind);
        const file = `test-${plugin.name}-${rule.alert}.yml`;
        // All groups are loaded, so a plugin's series firing another plugin's alert would fail the test too.
        const unitTests = {
          rule_files: [RULES],
          evaluation_interval: '1m',
          tests: cases.map((c) => unitTest(plugin, rule, c)),
        };
        writeFileSync(join(dir, file), stringify(unitTests, { lineWidth: 0 }));
        const run = promtool(['test', 'rules', join(dir, file)]);
        expect(run.status, output(run)).toBe(0);
        expect(run.stdout).toContain('SUCCESS');
      });
    }
  }

  it('renders annotations with the pipeline, the stage and the value', () => {
    const plugin = PLUGINS[1] as ObservedPlugin;
    const rule = alertsOf(plugin).find((r) => r.alert === ALERT.errorRateHigh);
    if (!rule) throw new Error('no DatameshErrorRateHigh');
    const test = unitTest(plugin, rule, { name: 'x', series: {}, fires: '20%' }) as {
      alert_rule_test: { exp_alerts: { exp_annotations: { summary: string } }[] }[];
    };
    expect(test.alert_rule_test[0]?.exp_alerts[0]?.exp_annotations.summary).toBe(
      'orders/filter-stage: 20% of events fail in filter processor',
    );
  });

  it('parses every dashboard query (promtool check rules on a throwaway recording rule file)', () => {
    const dashboard = generateDashboard(PLUGINS);
    const exprs = dashboard.panels.flatMap((panel) =>
      panel.type === 'timeseries' ? panel.targets.map((t) => t.expr) : [],
    );
    for (const variable of dashboard.templating.list) {
      if (variable.type !== 'query') continue;
      const selector = /^label_values\((.+), [a-z_]+\)$/.exec(variable.query.query)?.[1];
      expect(selector, variable.query.query).toBeDefined();
      exprs.push(selector ?? '');
    }
    // Grafana's variables, as Grafana would interpolate them with "All" selected.
    const promql = exprs.map((expr) =>
      expr.replaceAll('$__rate_interval', '1m').replaceAll('$pipeline', '.*').replaceAll('$stage', '.*'),
    );
    for (const expr of promql) expect(expr, expr).not.toContain('$');
    const file = join(dir, 'dashboard-exprs.yml');
    writeFileSync(
      file,
      stringify(
        {
          groups: [
            {
              name: 'datamesh-dashboard-parse-check',
              rules: promql.map((expr, i) => ({ record: `datamesh:dashboard_expr_${i}`, expr })),
            },
          ],
        },
        { lineWidth: 0 },
      ),
    );
    const run = promtool(['check', 'rules', file]);
    expect(run.status, output(run)).toBe(0);
    expect(run.stdout).toContain(`SUCCESS: ${promql.length} rules found`);
  });

  it('finds no problem in the runtime’s real exposition (promtool check metrics)', async () => {
    const registry = new Registry();
    const metrics = new StandardMetrics(registry);
    const source = metrics.forStage('p', 's', 'datagen', 'source');
    source.up(true);
    source.received(100);
    source.emitted(100);
    source.processed(0.012);
    source.sourceLag(1.5);
    source.failed();
    source.deadLettered(1);
    source.restarted();
    source.progressed();
    const sink = metrics.forStage('p', 'out', 'sink-file', 'sink');
    sink.up(true);
    sink.received(100);
    sink.inputLag(42);
    sink.flushed(0.2);
    sink.emitted(100);
    const exposition = await registry.metrics();
    expect(exposition).toContain(
      'datamesh_events_in_total{pipeline="p",stage="s",plugin="datagen",kind="source"} 100',
    );

    const run = promtool(['check', 'metrics'], exposition);
    expect(output(run)).toBe('');
    expect(run.status).toBe(0);
  });
});
