import type { Server } from 'node:http';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../contract/context.js';
import { StandardMetrics } from '../metrics/task-metrics.js';
import type { PipelinePlan } from '../pipeline/planner.js';
import { LocalSchemaRegistry } from '../schema/local-schema-registry.js';
import { ChangelogMap } from '../state/changelog-map.js';
import type { Transport } from '../transport/transport.js';
import { consumerRun } from './consumer-runner.js';
import { startHttpServer, type HealthReport } from './http-server.js';
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

/**
 * A process of the data plane: runs the tasks of its pipelines under supervision, serves /metrics
 * and /health, and on stop lets every task finish its batch, flush and commit before closing.
 */
export class MeshNode {
  readonly url: string;
  readonly registry: Registry;
  private readonly tasks: SupervisedTask[];
  private readonly abort: AbortController;
  private readonly server: Server;
  private readonly services: RuntimeServices;
  private readonly stopTimeoutMs: number;
  private stopping: Promise<{ clean: boolean }> | undefined;

  private constructor(parts: {
    url: string;
    registry: Registry;
    tasks: SupervisedTask[];
    abort: AbortController;
    server: Server;
    services: RuntimeServices;
    stopTimeoutMs: number;
  }) {
    this.url = parts.url;
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
        : tasks.every((t) => t.state === 'running')
          ? 'ok'
          : 'degraded',
      tasks: tasks.map((t) => ({
        id: t.id,
        state: t.state,
        restarts: t.restarts,
        ...(t.lastError ? { lastError: t.lastError } : {}),
      })),
    });
    const opened: { positions?: ChangelogMap; state?: ChangelogMap; server?: Server } = {};
    let services: RuntimeServices;
    let url: string;
    try {
      const schemas = await LocalSchemaRegistry.open(join(config.dataDir, 'schemas.json'));
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
      };
      ({ server: opened.server, url } = await startHttpServer(
        config.http.host,
        config.http.port,
        registry,
        health,
      ));
    } catch (error) {
      await closeEach(logger, [
        ['http server', opened.server ? () => closeServer(opened.server!) : undefined],
        ['positions', opened.positions ? () => opened.positions!.close() : undefined],
        ['state', opened.state ? () => opened.state!.close() : undefined],
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
          }),
          [plan.name, end.stage.name, end.plugin.name, end.plugin.kind],
        );
      }
    }
    logger.info({ url, tasks: tasks.map((t) => t.id) }, 'node started');
    return new MeshNode({
      url,
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
    return this.tasks.map((t) => ({
      id: t.id,
      state: t.state,
      restarts: t.restarts,
      ...(t.lastError ? { lastError: t.lastError } : {}),
    }));
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

function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}
