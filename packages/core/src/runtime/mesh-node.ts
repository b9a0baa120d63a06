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
  private stopping: Promise<void> | undefined;

  private constructor(parts: {
    url: string;
    registry: Registry;
    tasks: SupervisedTask[];
    abort: AbortController;
    server: Server;
    services: RuntimeServices;
  }) {
    this.url = parts.url;
    this.registry = parts.registry;
    this.tasks = parts.tasks;
    this.abort = parts.abort;
    this.server = parts.server;
    this.services = parts.services;
  }

  static async start(options: MeshNodeOptions): Promise<MeshNode> {
    const { config, transport, logger } = options;
    const registry = options.registry ?? new Registry();
    if (!options.registry) collectDefaultMetrics({ register: registry, prefix: 'datamesh_node_' });
    const services: RuntimeServices = {
      transport,
      logger,
      registry,
      schemas: await LocalSchemaRegistry.open(join(config.dataDir, 'schemas.json')),
      metrics: new StandardMetrics(registry),
      positions: await ChangelogMap.open(transport, POSITIONS_TOPIC),
      state: await ChangelogMap.open(transport, STATE_TOPIC),
    };
    const abort = new AbortController();
    const tasks: SupervisedTask[] = [];
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
    const { server, url } = await startHttpServer(config.http.host, config.http.port, registry, health);
    logger.info({ url, tasks: tasks.map((t) => t.id) }, 'node started');
    return new MeshNode({ url, registry, tasks, abort, server, services });
  }

  health(): HealthReport['tasks'] {
    return this.tasks.map((t) => ({ id: t.id, state: t.state, restarts: t.restarts }));
  }

  /** Stops every task after its current batch (flushed and committed), then the transport. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.services.logger.info('node stopping: draining tasks');
      this.abort.abort();
      await Promise.all(this.tasks.map((t) => t.done));
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      await this.services.positions.close();
      await this.services.state.close();
      await this.services.transport.close();
      this.services.logger.info('node stopped');
    })();
    return this.stopping;
  }
}
