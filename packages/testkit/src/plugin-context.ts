import {
  createLogger,
  createPluginMetrics,
  LocalSchemaRegistry,
  Registry,
  type Logger,
  type LoggerOptions,
  type PluginContext,
  type Position,
  type ProcessorInput,
  type SchemaAccess,
  type StateStore,
} from '@datamesh/core';

export interface TestContextOptions {
  readonly pipeline?: string;
  readonly stage?: string;
  readonly plugin?: string;
  /** Log level of the context's logger; `silent` unless asked. Ignored when `logger` is given. */
  readonly logLevel?: NonNullable<LoggerOptions['level']>;
  readonly logger?: Logger;
  /** Where `ctx.metrics` registers; a fresh registry by default. */
  readonly registry?: Registry;
  /** Schema registry; an in-memory one by default. */
  readonly schemas?: SchemaAccess;
  /** Entries the state store starts with. */
  readonly state?: Readonly<Record<string, unknown>>;
  /** What `ctx.checkpoints.committed()` returns (as if the runtime had stored it). */
  readonly committed?: Position;
  /** A processor's inputs, as `ctx.inputs` (the runtime passes those its plan saw). */
  readonly inputs?: readonly ProcessorInput[];
}

/** A PluginContext for tests, with handles to what a test asserts on. */
export interface TestContext extends PluginContext {
  /** The registry behind `metrics`, to read a plugin's own metrics (`registry.getSingleMetric`). */
  readonly registry: Registry;
  readonly state: MemoryStateStore;
  /** Its signal is `ctx.signal`; abort it to tell the plugin to stop. */
  readonly abortController: AbortController;
  /** Changes what `checkpoints.committed()` returns from now on. */
  setCommitted(position: Position | undefined): void;
}

/** An in-memory StateStore; `snapshot()` shows what a plugin stored. */
export interface MemoryStateStore extends StateStore {
  snapshot(): Record<string, unknown>;
}

export function createMemoryStateStore(initial: Readonly<Record<string, unknown>> = {}): MemoryStateStore {
  const map = new Map<string, unknown>(Object.entries(structuredClone(initial)));
  return {
    // A copy out too, as a store that reads JSON back gives one.
    get: <T>(key: string) => structuredClone(map.get(key)) as T | undefined,
    async put(key, value) {
      // Stored as the changelog would store it: a copy, so later mutation by the plugin is not state.
      map.set(key, structuredClone(value));
    },
    async delete(key) {
      map.delete(key);
    },
    // In key order, as a processor's store answers them.
    *entries(prefix = '') {
      const keys = [...map.keys()].filter((k) => k.startsWith(prefix)).sort();
      for (const key of keys) yield [key, structuredClone(map.get(key))] as [string, unknown];
    },
    snapshot: () => Object.fromEntries(map),
  };
}

/**
 * A full PluginContext for tests: a silent logger (unless asked), metrics on a fresh prom-client
 * registry, an in-memory schema registry and state store, checkpoints returning `committed`, and an
 * AbortController whose signal is the context's.
 */
export async function createTestContext(options: TestContextOptions = {}): Promise<TestContext> {
  const identity = {
    pipeline: options.pipeline ?? 'test',
    stage: options.stage ?? 'stage',
    plugin: options.plugin ?? 'plugin',
  };
  const registry = options.registry ?? new Registry();
  const logger = (options.logger ?? createLogger({ level: options.logLevel ?? 'silent' })).child(identity);
  const abortController = new AbortController();
  let committed = options.committed;
  return {
    ...identity,
    logger,
    metrics: createPluginMetrics(registry, identity),
    schemas: options.schemas ?? (await LocalSchemaRegistry.open()),
    state: createMemoryStateStore(options.state),
    checkpoints: { committed: async () => committed },
    signal: abortController.signal,
    ...(options.inputs ? { inputs: options.inputs } : {}),
    registry,
    abortController,
    setCommitted(position) {
      committed = position;
    },
  };
}
