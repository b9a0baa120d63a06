import { MeshNode, type Logger, type NodeConfig, type PipelinePlan } from '@datamesh/core';
import { openTransport } from './transport-factory.js';

export interface RunningNode {
  readonly node: MeshNode;
  /** Resolves once the node stopped (after a signal, `stop()` or the optional duration). */
  readonly stopped: Promise<{ clean: boolean }>;
  stop(): Promise<void>;
}

/**
 * Starts a node on the transport its config names and stops it gracefully on SIGINT / SIGTERM: tasks finish
 * their batch, sinks flush, offsets and positions are committed. A second signal exits at once.
 */
export async function runNode(
  config: NodeConfig,
  plans: readonly PipelinePlan[],
  logger: Logger,
): Promise<RunningNode> {
  const transport = await openTransport(config, logger);
  const node = await MeshNode.start({ config, plans, transport, logger });
  let signals = 0;
  let resolveStopped!: (result: { clean: boolean }) => void;
  const stopped = new Promise<{ clean: boolean }>((resolve) => (resolveStopped = resolve));
  const stop = async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const { clean } = await node.stop();
    // A task that failed while draining, or did not drain in time: scripts must see it, and a task still
    // stuck in a plugin must not keep the process alive.
    if (!clean) setTimeout(() => process.exit(1), 100).unref();
    if (!clean) process.exitCode = 1;
    resolveStopped({ clean });
  };
  function onSignal(signal: NodeJS.Signals) {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without draining');
      process.exit(130);
    }
    logger.info({ signal }, 'signal received: draining');
    void stop();
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { node, stopped, stop };
}
