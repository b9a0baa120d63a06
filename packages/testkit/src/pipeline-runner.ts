import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  EmbeddedTransport,
  EventCodec,
  LocalSchemaRegistry,
  MeshNode,
  NodeConfigSchema,
  parseConfig,
  planPipeline,
  readToEnd,
  PluginRegistry,
  SourceDocument,
  type ChangeEvent,
  type LoggerOptions,
  type NodeConfig,
  type PipelinePlan,
  type Plugin,
} from '@datamesh/core';

export interface TestPipelineOptions {
  /** The plugins the pipeline may use (plugin values, as their packages export them). */
  readonly plugins: readonly Plugin[];
  /** The pipeline, as a YAML string or the parsed object. */
  readonly pipeline: string | Record<string, unknown>;
  /** Node settings to override (tasks.flushIntervalMs is 50 ms by default here, for quick tests). */
  readonly node?: Partial<Pick<NodeConfig, 'tasks' | 'transport'>>;
  readonly logLevel?: LoggerOptions['level'];
  /** Where the node keeps its data; a temp dir (removed on `stop`) by default. */
  readonly dataDir?: string;
}

export interface TestPipeline {
  readonly plan: PipelinePlan;
  readonly node: MeshNode;
  readonly dataDir: string;
  /** Decoded events of a topic, from the beginning (read-only; the node keeps running). */
  readTopic(topic: string): Promise<ChangeEvent[]>;
  /** Waits until `probe` returns a value other than undefined, polling every 25 ms. */
  until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /** Drains and stops the node; removes the temp data dir unless `dataDir` was given. */
  stop(): Promise<void>;
}

/**
 * Plans and runs a pipeline on a real node over the embedded transport, in this process: what a
 * plugin's integration test needs to watch events go through it end to end.
 */
export async function runTestPipeline(options: TestPipelineOptions): Promise<TestPipeline> {
  const registry = new PluginRegistry();
  for (const plugin of options.plugins) {
    registry.add({
      plugin,
      packageName: `test:${plugin.name}`,
      packageVersion: plugin.version,
      packageDir: '<test>',
    });
  }
  const document =
    typeof options.pipeline === 'string'
      ? SourceDocument.parse(options.pipeline, 'test pipeline')
      : SourceDocument.fromValue(options.pipeline, 'test pipeline');
  const plan = await planPipeline(document, registry);
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'datamesh-test-pipeline-')));
  const config = parseConfig(NodeConfigSchema, {
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    tasks: { flushIntervalMs: 50, ...options.node?.tasks },
    ...(options.node?.transport ? { transport: options.node.transport } : {}),
  });
  const transport = await EmbeddedTransport.open({
    dir: join(dataDir, 'log'),
    fsync: config.transport.fsync,
  });
  const node = await MeshNode.start({
    config,
    plans: [plan],
    transport,
    logger: createLogger({ level: options.logLevel ?? 'silent' }),
  });
  return {
    plan,
    node,
    dataDir,
    async readTopic(topic) {
      const reader = await EmbeddedTransport.open({ dir: join(dataDir, 'log'), readOnly: true });
      try {
        const records = [];
        for await (const batch of readToEnd(reader, topic)) records.push(...batch);
        // The registry is read after the records: a record's schema is registered before it is written, so
        // every id read is known (read before, a schema registered meanwhile would be missing).
        const codec = new EventCodec(await LocalSchemaRegistry.open(join(dataDir, 'schemas.json')));
        const events: ChangeEvent[] = [];
        for (const record of records) events.push(await codec.decode(record));
        return events;
      } finally {
        await reader.close();
      }
    },
    async until(probe, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline)
          throw new Error(`runTestPipeline: condition not met within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop() {
      await node.stop();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
