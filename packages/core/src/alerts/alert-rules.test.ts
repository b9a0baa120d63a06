import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { METRIC } from '../metrics/standard-metrics.js';
import {
  ALERT,
  DEFAULT_ALERT_THRESHOLDS,
  alertRuleGroups,
  generateAlertRules,
  type AlertRule,
  type ObservedPlugin,
} from './alert-rules.js';

const PLUGINS: readonly ObservedPlugin[] = [
  { name: 'datagen', kind: 'source' },
  { name: 'filter', kind: 'processor' },
  { name: 'sink-file', kind: 'sink' },
];
const KNOWN_METRICS = new Set<string>(Object.values(METRIC));

function rulesOf(name: string, plugins: readonly ObservedPlugin[] = PLUGINS): readonly AlertRule[] {
  const group = alertRuleGroups(plugins).groups.find((g) => g.name === `datamesh-plugin-${name}`);
  if (!group) throw new Error(`no group for ${name}`);
  return group.rules;
}

function rule(plugin: string, alert: string): AlertRule {
  const found = rulesOf(plugin).find((r) => r.alert === alert);
  if (!found) throw new Error(`no ${alert} for ${plugin}`);
  return found;
}

/** Every metric selector in an expression: `[metric name, label matchers]`. */
function selectors(expr: string): [string, string][] {
  return [...expr.matchAll(/(datamesh_[a-z_]+)(\{[^}]*\})?/g)].map((m) => [m[1] ?? '', m[2] ?? '']);
}

describe('generateAlertRules', () => {
  it('makes one group per plugin, named datamesh-plugin-<name>, in the given order', () => {
    expect(alertRuleGroups(PLUGINS).groups.map((g) => g.name)).toEqual([
      'datamesh-plugin-datagen',
      'datamesh-plugin-filter',
      'datamesh-plugin-sink-file',
    ]);
  });

  it('gives sources the source-lag alert and processors and sinks the input alerts', () => {
    const common = [ALERT.errorRateHigh, ALERT.errorsWithoutTraffic, ALERT.progressStalled];
    const tail = [ALERT.taskRestarting, ALERT.deadLetters];
    expect(rulesOf('datagen').map((r) => r.alert)).toEqual([...common, ALERT.lagGrowing, ...tail]);
    for (const name of ['filter', 'sink-file']) {
      expect(rulesOf(name).map((r) => r.alert)).toEqual([
        ...common,
        ALERT.inputStalled,
        ALERT.lagGrowing,
        ...tail,
      ]);
    }
    expect(rule('datagen', ALERT.lagGrowing).expr).toContain(METRIC.sourceLagSeconds);
    expect(rule('datagen', ALERT.lagGrowing).expr).not.toContain(METRIC.inputLagEvents);
    for (const name of ['filter', 'sink-file']) {
      expect(rule(name, ALERT.lagGrowing).expr).toContain(METRIC.inputLagEvents);
      expect(rule(name, ALERT.lagGrowing).expr).not.toContain(METRIC.sourceLagSeconds);
    }
    for (const r of rulesOf('datagen')) expect(r.expr).not.toContain(METRIC.inputLagEvents);
  });

  it('selects only the plugin’s own series, by standard metric names, aggregated by pipeline and stage', () => {
    for (const plugin of PLUGINS) {
      for (const r of rulesOf(plugin.name)) {
        const found = selectors(r.expr);
        expect(found.length, r.alert).toBeGreaterThan(0);
        for (const [metric, matchers] of found) {
          expect(KNOWN_METRICS.has(metric), `${r.alert}: ${metric}`).toBe(true);
          expect(matchers, `${r.alert}: ${metric}`).toBe(`{plugin="${plugin.name}"}`);
        }
        expect(r.expr).toContain('by (pipeline, stage)');
        expect(r.expr).not.toMatch(/by \((?![^)]*pipeline)[^)]*\)/);
      }
    }
  });

  it('labels every alert with plugin, kind and a severity', () => {
    for (const plugin of PLUGINS) {
      for (const r of rulesOf(plugin.name)) {
        expect(r.labels.plugin).toBe(plugin.name);
        expect(r.labels.kind).toBe(plugin.kind);
        expect(['warning', 'critical']).toContain(r.labels.severity);
      }
    }
    expect(rule('datagen', ALERT.progressStalled).labels.severity).toBe('critical');
    expect(rule('datagen', ALERT.deadLetters).labels.severity).toBe('warning');
  });

  it('writes summaries and descriptions that name the pipeline and stage and say where to look', () => {
    for (const plugin of PLUGINS) {
      for (const r of rulesOf(plugin.name)) {
        for (const text of [r.annotations.summary, r.annotations.description]) {
          expect(text, r.alert).toContain('{{ $labels.pipeline }}');
          expect(text, r.alert).toContain('{{ $labels.stage }}');
        }
        expect(r.annotations.description, r.alert).toMatch(/Look at|Read that topic/);
        expect(r.annotations.description, r.alert).toContain(plugin.name);
      }
    }
    expect(rule('sink-file', ALERT.errorRateHigh).annotations.description).toContain('target system');
    expect(rule('datagen', ALERT.errorRateHigh).annotations.description).toContain('source system');
  });

  it('covers each failure with the intended expression', () => {
    expect(rule('filter', ALERT.errorRateHigh).expr).toMatch(
      /rate\(datamesh_errors_total\{plugin="filter"\}\[5m\]\)\)\n\s*\/ \(sum by \(pipeline, stage\) \(rate\(datamesh_events_in_total\{plugin="filter"\}\[5m\]\)\) > 0\)\n> 0\.05$/,
    );
    expect(rule('filter', ALERT.errorsWithoutTraffic).expr).toContain('unless on (pipeline, stage)');
    expect(rule('filter', ALERT.progressStalled).expr).toContain(
      'time() - datamesh_last_progress_timestamp_seconds',
    );
    expect(rule('filter', ALERT.progressStalled).expr).toContain('datamesh_task_up{plugin="filter"} == 1');
    expect(rule('filter', ALERT.inputStalled).expr).toContain(
      'datamesh_input_lag_events{plugin="filter"}) > 0',
    );
    expect(rule('datagen', ALERT.lagGrowing).expr).toContain(
      'deriv(datamesh_source_lag_seconds{plugin="datagen"}[10m])',
    );
    expect(rule('filter', ALERT.taskRestarting).expr).toBe(
      'sum by (pipeline, stage) (increase(datamesh_task_restarts_total{plugin="filter"}[15m])) > 3',
    );
    expect(rule('filter', ALERT.deadLetters).expr).toBe(
      'sum by (pipeline, stage) (increase(datamesh_dead_letters_total{plugin="filter"}[10m])) > 0',
    );
    expect(rule('filter', ALERT.errorRateHigh).for).toBe(DEFAULT_ALERT_THRESHOLDS.errorRateFor);
    expect(rule('filter', ALERT.inputStalled).for).toBe(DEFAULT_ALERT_THRESHOLDS.inputStalledFor);
  });

  it('applies the thresholds it is given', () => {
    const groups = alertRuleGroups([{ name: 'filter', kind: 'processor' }], {
      errorRatio: 0.1,
      maxRestarts: 5,
      restartWindow: '1h',
      inputLagFloorEvents: 50_000,
      progressStaleSeconds: 120,
      lagGrowingFor: '30m',
    }).groups;
    const byName = new Map(groups[0]?.rules.map((r) => [r.alert, r]));
    expect(byName.get(ALERT.errorRateHigh)?.expr).toMatch(/> 0\.1$/);
    expect(byName.get(ALERT.taskRestarting)?.expr).toContain('[1h])) > 5');
    expect(byName.get(ALERT.lagGrowing)?.expr).toContain('> 50000)');
    expect(byName.get(ALERT.lagGrowing)?.for).toBe('30m');
    expect(byName.get(ALERT.progressStalled)?.expr).toMatch(/> 120$/);
    expect(byName.get(ALERT.errorRateHigh)?.annotations.description).toContain('10%');
  });

  it('renders YAML that reads back as the same rules', () => {
    const text = generateAlertRules(PLUGINS);
    expect(text.startsWith('# Generated by @datamesh/core')).toBe(true);
    expect(parse(text)).toEqual(JSON.parse(JSON.stringify(alertRuleGroups(PLUGINS))));
    expect(text).toContain('- name: datamesh-plugin-datagen');
    expect(text).toContain('alert: DatameshErrorRateHigh');
  });

  it('renders an empty file for no plugins', () => {
    expect(parse(generateAlertRules([]))).toEqual({ groups: [] });
  });

  it('refuses names that are not plugin ids, duplicates and bad thresholds', () => {
    expect(() => generateAlertRules([{ name: 'Bad"name', kind: 'source' }])).toThrow(/kebab-case/);
    expect(() =>
      generateAlertRules([
        { name: 'a', kind: 'source' },
        { name: 'a', kind: 'sink' },
      ]),
    ).toThrow(/listed twice/);
    expect(() => generateAlertRules(PLUGINS, { rateWindow: '5 minutes' })).toThrow(/rateWindow/);
    expect(() => generateAlertRules(PLUGINS, { lagWindow: '0m' })).toThrow(/lagWindow/);
    expect(() => generateAlertRules(PLUGINS, { errorRatio: 0 })).toThrow(/errorRatio/);
    expect(() => generateAlertRules(PLUGINS, { errorRatio: 1.5 })).toThrow(/errorRatio/);
    expect(() => generateAlertRules(PLUGINS, { maxRestarts: -1 })).toThrow(/maxRestarts/);
    expect(() => generateAlertRules(PLUGINS, { sourceLagFloorSeconds: Number.NaN })).toThrow(
      /sourceLagFloorSeconds/,
    );
  });
});
