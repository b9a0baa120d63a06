import type { Server } from 'node:http';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../contract/context.js';
import { StandardMetrics } from '../metrics/task-metrics.js';
import type { PipelinePlan } from '../pipeline/planner.js';
import type { SchemaAccess } from '../contract/context.js';
import { ExternalSchemaRegistry } from '../schema/external-schema-registry.js';
import { LocalSchemaRegistry } from '../schema/local-schema-registry.js';
import { schemaRegistryRequestListener } from '../schema/registry-http-api.js';
import { ChangelogMap } from '../state/changelog-map.js';
import type { Transport } from '../transport/transport.js';
import { catalogEntries } from '../catalog/catalog-entries.js';
import { TopicCatalog } from '../catalog/topic-catalog.js';
import { catalogRequestListener } from './catalog-http.js';
import { consumerRun } from './consumer-runner.js';
import { startHttpServer, type HealthReport, type HttpMount } from './http-server.js';
import type { NodeConfig } from './node-config.js';
import { POSITIONS_TOPIC, STATE_TOPIC, type RuntimeServices } from './runtime-services.js';
import { sourceRun } from './source-runner.js';
import { supervise, type SupervisedTask } from './supervisor.js';
import { closeEach } from './task-resources.js';

export interface MeshNodeOptions {
  readonly config: NodeConfig;
  readonly plans: readonly PipelinePlan[];
  readonly transport: Transport;
  readonly logger: Logger;
  /** Metrics registry; a new one (with Node's process metrics) by default. */
  readonly registry?: Registry;
}

/** Where a node serves its own schema registry, under its HTTP address. */
export const SCHEMA_REGISTRY_PATH = '/schema-registry';
/** Where a node serves the topic catalog, under its HTTP address. */
export const CATALOG_PATH = '/catalog';

/**
 * A process of the data plane: runs the tasks of its pipelines under supervision, serves /metrics,
 * /health and its schema registry, and on stop lets every task finish its batch, flush and commit before
 * closing.
 */
export class MeshNode {
  readonly url: string;
  /** The registry the node uses: the one it serves (`<url>/schema-registry`) or an external one. */
  readonly schemaRegistryUrl: string | undefined;
  readonly registry: Registry;
  private readonly tasks: SupervisedTask[];
  private readonly abort: AbortController;
  private readonly server: Server;
  private readonly services: RuntimeServices;
  private readonly ownSchemas: LocalSchemaRegistry | undefined;
  private readonly catalog: TopicCatalog;
  private readonly stopTimeoutMs: number;
  private stopping: Promise<{ clean: boolean }> | undefined;

  private constructor(parts: {
    url: string;
    schemaRegistryUrl: string | undefined;
    ownSchemas: LocalSchemaRegistry | undefined;
    catalog: TopicCatalog;
    registry: Registry;
    tasks: SupervisedTask[];
    abort: AbortController;
    server: Server;
    services: RuntimeServices;
    stopTimeoutMs: number;
  }) {
    this.url = parts.url;
    this.schemaRegistryUrl = parts.schemaRegistryUrl;
    this.ownSchemas = parts.ownSchemas;
    this.catalog = parts.catalog;
    this.registry = parts.registry;
    this.tasks = parts.tasks;
    this.abort = parts.abort;
    this.server = parts.server;
    this.services = parts.services;
    this.stopTimeoutMs = parts.stopTimeoutMs;
  }

  /**
   * Opens the node's services and HTTP server, then starts the tasks. The node owns the transport:
   * `stop()` closes it, and so does a failed start, which leaves nothing running.
   */
  static async start(options: MeshNodeOptions): Promise<MeshNode> {
    const { config, transport, logger } = options;
    const registry = options.registry ?? new Registry();
    if (!options.registry) collectDefaultMetrics({ register: registry, prefix: 'datamesh_node_' });
    const abort = new AbortController();
    const tasks: SupervisedTask[] = [];
    const health = (): HealthReport => ({
      status: abort.signal.aborted
        ? 'stopping'
        : tasks.every((t) => t.state === 'running' || t.state === 'standby')
          ? 'ok'
          : 'degraded',
      tasks: taskHealth(tasks),
    });
    const opened: {
      positions?: ChangelogMap;
      state?: ChangelogMap;
      server?: Server;
      ownSchemas?: LocalSchemaRegistry;
      catalog?: TopicCatalog;
    } = {};
    let services: RuntimeServices;
    let url: string;
    let schemaRegistryUrl: string | undefined;
    try {
      const mounts: HttpMount[] = [];
      let schemas: SchemaAccess;
      if (config.schemaRegistry.url) {
        schemas = await openExternalRegistry(config.schemaRegistry);
      } else {
        // On the embedded transport beside the log (where `mesh topic tail` reads it); elsewhere in a
        // compacted topic of the transport, as durable as the cluster.
        opened.ownSchemas = schemas =
          transport.kind === 'embedded'
            ? await LocalSchemaRegistry.open(join(config.dataDir, 'schemas.json'))
            : await LocalSchemaRegistry.onTransport(transport);
        if (config.schemaRegistry.serve ?? true)
          mounts.push({
            prefix: SCHEMA_REGISTRY_PATH,
            listener: schemaRegistryRequestListener(opened.ownSchemas.registry, {
              prefix: SCHEMA_REGISTRY_PATH,
            }),
          });
      }
      opened.catalog = await TopicCatalog.open(transport);
      await opened.catalog.publish(options.plans.flatMap((plan) => catalogEntries(plan)));
      mounts.push({
        prefix: CATALOG_PATH,
        listener: catalogRequestListener(opened.catalog, schemas, CATALOG_PATH),
      });
      opened.positions = await ChangelogMap.open(transport, POSITIONS_TOPIC);
      opened.state = await ChangelogMap.open(transport, STATE_TOPIC);
      services = {
        transport,
        logger,
        registry,
        schemas,
        metrics: new StandardMetrics(registry),
        positions: opened.positions,
        state: opened.state,
        stateDir: join(config.dataDir, 'state'),
      };
      ({ server: opened.server, url } = await startHttpServer(
        config.http.host,
        config.http.port,
        registry,
        health,
        mounts,
      ));
      schemaRegistryUrl =
        config.schemaRegistry.url ??
        (mounts.some((m) => m.prefix === SCHEMA_REGISTRY_PATH) ? `${url}${SCHEMA_REGISTRY_PATH}` : undefined);
    } catch (error) {
      await closeEach(logger, [
        ['http server', opened.server ? () => closeServer(opened.server!) : undefined],
        ['positions', opened.positions ? () => opened.positions!.close() : undefined],
        ['state', opened.state ? () => opened.state!.close() : undefined],
        ['schema registry', opened.ownSchemas ? () => opened.ownSchemas!.close() : undefined],
        ['catalog', opened.catalog ? () => opened.catalog!.close() : undefined],
        ['transport', () => transport.close()],
      ]);
      throw error;
    }

    const superviseTask = (
      id: string,
      run: Parameters<typeof supervise>[1],
      labels: [string, string, string, 'source' | 'processor' | 'sink'],
    ) =>
      tasks.push(
        supervise(id, run, {
          logger,
          signal: abort.signal,
          onRestart: () => services.metrics.forStage(...labels).restarted(),
        }),
      );
    for (const plan of options.plans) {
      for (const source of plan.sources) {
        superviseTask(
          source.id,
          sourceRun(plan.name, source, services, { partitions: config.transport.partitions }),
          [plan.name, source.stage.name, source.plugin.name, 'source'],
        );
      }
      for (const task of plan.tasks) {
        // Restarts are counted on the stage that ends the task (its sink or materialised processor).
        const end = task.output.kind === 'sink' ? task.output.sink : task.output.processor;
        superviseTask(
          task.id,
          consumerRun(plan.name, task, services, {
            partitions: config.transport.partitions,
            ...config.tasks,
            pipelineTasks: plan.tasks.map((t) => t.id),
          }),
          [plan.name, end.stage.name, end.stage.plugin, end.plugin.kind],
        );
      }
    }
    logger.info({ url, schemaRegistry: schemaRegistryUrl, tasks: tasks.map((t) => t.id) }, 'node started');
    return new MeshNode({
      url,
      schemaRegistryUrl,
      ownSchemas: opened.ownSchemas,
      catalog: opened.catalog!,
      registry,
      tasks,
      abort,
      server: opened.server!,
      services,
      stopTimeoutMs: config.tasks.stopTimeoutMs,
    });
  }

  /** Each task's state, restarts and last error, as `/health` reports them. */
  health(): HealthReport['tasks'] {
    return taskHealth(this.tasks);
  }

  /**
   * Stops every task after its current batch (flushed and committed), then the transport. Idempotent.
   * Resolves `clean: false` when a task failed while draining or did not stop within `stopTimeoutMs`.
   */
  stop(): Promise<{ clean: boolean }> {
    this.stopping ??= (async () => {
      const { logger } = this.services;
      logger.info('node stopping: draining tasks');
      this.abort.abort();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all(this.tasks.map((t) => t.done)).then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.stopTimeoutMs))),
      ]);
      clearTimeout(timer);
      const stuck = this.tasks.filter((t) => t.state !== 'stopped' && t.state !== 'failed').map((t) => t.id);
      if (timedOut)
        logger.error({ tasks: stuck, stopTimeoutMs: this.stopTimeoutMs }, 'tasks did not stop in time');
      const failed = this.tasks.filter((t) => t.state === 'failed').map((t) => t.id);
      const closeError = await closeEach(logger, [
        ['http server', () => closeServer(this.server)],
        ['positions', () => this.services.positions.close()],
        ['state', () => this.services.state.close()],
        ['schema registry', this.ownSchemas ? () => this.ownSchemas!.close() : undefined],
        ['catalog', () => this.catalog.close()],
        ['transport', () => this.services.transport.close()],
      ]);
      const clean = !timedOut && failed.length === 0 && closeError === undefined;
      if (clean) logger.info('node stopped');
      else logger.error({ failed, stuck: timedOut ? stuck : [] }, 'node stopped with errors');
      return { clean };
    })();
    return this.stopping;
  }
}

/** The registry at `schemaRegistry.url`, once it answered: a wrong address or password fails the start. */
async function openExternalRegistry(settings: NodeConfig['schemaRegistry']): Promise<ExternalSchemaRegistry> {
  const registry = new ExternalSchemaRegistry({
    url: settings.url!,
    basicAuth: settings.basicAuth,
    timeoutMs: settings.timeoutMs,
    hint: 'Check schemaRegistry.url (and schemaRegistry.basicAuth) in the node config, and that the registry runs.',
  });
  await registry.client.request('GET', '/schemas/types');
  return registry;
}

function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

/** Each task's state, restarts, last error and (run per partition) the partition numbers it holds here. */
function taskHealth(tasks: readonly SupervisedTask[]): HealthReport['tasks'] {
  return tasks.map((t) => ({
    id: t.id,
    state: t.state,
    restarts: t.restarts,
    ...(t.lastError ? { lastError: t.lastError } : {}),
    ...(t.partitions ? { partitions: t.partitions } : {}),
  }));
}
