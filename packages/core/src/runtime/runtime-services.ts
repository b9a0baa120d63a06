import type { Registry } from 'prom-client';
import type { Logger, Position, SchemaAccess } from '../contract/context.js';
import type { StandardMetrics } from '../metrics/task-metrics.js';
import type { ChangelogMap } from '../state/changelog-map.js';
import type { Transport } from '../transport/transport.js';

/** What every task of a node shares. */
export interface RuntimeServices {
  readonly transport: Transport;
  readonly schemas: SchemaAccess;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly metrics: StandardMetrics;
  /** Durable source positions, keyed by source task id. */
  readonly positions: ChangelogMap;
  /** Durable stage state of sinks (namespaced per stage). */
  readonly state: ChangelogMap;
  /**
   * Where stateful processors keep their local stores (`<stateDir>/<pipeline>.<stage>.sqlite`); in memory when
   * absent (the changelog topic still makes the state durable).
   */
  readonly stateDir?: string;
}

export const POSITIONS_TOPIC = '__datamesh_positions';
export const STATE_TOPIC = '__datamesh_state';
/** Written by nobody: its consumer groups elect the node that runs a source (see `takeLease`). */
export const LEASES_TOPIC = '__datamesh_leases';

export function checkpointsOf(services: RuntimeServices, taskId: string) {
  return { committed: () => services.positions.current<Position>(taskId) };
}
