import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PluginMetrics } from '../contract/context.js';

const NAME = /^[a-z][a-z0-9_]*$/;
const STAGE_LABELS = ['pipeline', 'stage', 'plugin'] as const;

/**
 * A plugin's own metrics: named `datamesh_plugin_<plugin>_<name>`, labelled with pipeline, stage and
 * plugin by us. Two tasks of the same plugin share one family and differ by labels.
 */
export function createPluginMetrics(
  registry: Registry,
  identity: { pipeline: string; stage: string; plugin: string },
): PluginMetrics {
  const prefix = `datamesh_plugin_${identity.plugin.replace(/-/g, '_')}_`;
  const bound = { pipeline: identity.pipeline, stage: identity.stage, plugin: identity.plugin };

  function family<T>(name: string, make: (fullName: string) => T): T {
    if (!NAME.test(name))
      throw new Error(`metric name "${name}" must be snake_case (e.g. "rows_fetched_total")`);
    const fullName = prefix + name;
    return (registry.getSingleMetric(fullName) as T | undefined) ?? make(fullName);
  }

  // Bind the stage labels so the plugin passes only its own.
  function bind<M extends { labels(...args: never[]): unknown }>(metric: M): M {
    return new Proxy(metric, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (['inc', 'dec', 'set', 'observe', 'startTimer'].includes(String(prop))) {
          return (...args: unknown[]) => {
            const [first, ...rest] = args;
            if (typeof first === 'object' && first !== null) {
              return (value as (...a: unknown[]) => unknown).call(target, { ...first, ...bound }, ...rest);
            }
            return (value as (...a: unknown[]) => unknown).call(target, bound, ...args);
          };
        }
        if (prop === 'labels') {
          return (labels: Record<string, string>) =>
            (value as (l: Record<string, string>) => unknown).call(target, { ...labels, ...bound });
        }
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  }

  return {
    counter(name, help, labelNames = []) {
      return bind(
        family(
          name,
          (n) =>
            new Counter({
              name: n,
              help,
              labelNames: [...STAGE_LABELS, ...labelNames],
              registers: [registry],
            }),
        ),
      );
    },
    gauge(name, help, labelNames = []) {
      return bind(
        family(
          name,
          (n) =>
            new Gauge({ name: n, help, labelNames: [...STAGE_LABELS, ...labelNames], registers: [registry] }),
        ),
      );
    },
    histogram(name, help, buckets, labelNames = []) {
      return bind(
        family(
          name,
          (n) =>
            new Histogram({
              name: n,
              help,
              labelNames: [...STAGE_LABELS, ...labelNames],
              registers: [registry],
              ...(buckets ? { buckets: [...buckets] } : {}),
            }),
        ),
      );
    },
  };
}
