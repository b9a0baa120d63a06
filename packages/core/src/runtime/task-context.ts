import type { Registry } from 'prom-client';
import type {
  Checkpoints,
  Logger,
  PluginContext,
  ProcessorInputSchemas,
  SchemaAccess,
  StateStore,
} from '../contract/context.js';
import { createPluginMetrics } from '../metrics/plugin-metrics.js';
import type { Transport } from '../transport/transport.js';

export interface StageIdentity {
  readonly pipeline: string;
  readonly stage: string;
  readonly plugin: string;
}

export interface ContextParts {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly schemas: SchemaAccess;
  readonly state: StateStore;
  readonly checkpoints: Checkpoints;
  readonly signal: AbortSignal;
  readonly transport?: Transport;
  readonly inputs?: readonly ProcessorInputSchemas[];
}

/** The context one stage's plugin receives: a child logger and metrics bound to the stage. */
export function createPluginContext(identity: StageIdentity, parts: ContextParts): PluginContext {
  return {
    ...identity,
    logger: parts.logger.child({
      pipeline: identity.pipeline,
      stage: identity.stage,
      plugin: identity.plugin,
    }),
    metrics: createPluginMetrics(parts.registry, identity),
    schemas: parts.schemas,
    state: parts.state,
    checkpoints: parts.checkpoints,
    signal: parts.signal,
    ...(parts.transport ? { transport: parts.transport } : {}),
    ...(parts.inputs ? { inputs: parts.inputs } : {}),
  };
}
