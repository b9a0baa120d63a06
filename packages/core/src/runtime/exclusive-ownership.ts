import { abortableDelay } from '../contract/abortable-delay.js';
import type { Logger } from '../contract/context.js';
import type { Consumer, TopicPartitionOffset } from '../transport/transport.js';
import { LEASES_TOPIC, type RuntimeServices } from './runtime-services.js';
import { TaskMovedError } from './supervisor.js';

/** How long a task waits for its partitions before it says it stands by (a first join takes seconds). */
const ANNOUNCE_AFTER_MS = 10_000;
const CHECK_EVERY_MS = 200;

/**
 * Waits until the task's exclusive consumer holds its input partitions: at once on a lone node, or, on a node
 * beside the one running the task, until that one stops. Resolves false when the task was stopped first. Tells
 * `standingBy` when it starts and stops waiting (the node's /health shows the task as `standby` meanwhile).
 */
export async function untilHolding(
  consumer: Consumer,
  task: string,
  group: string,
  logger: Logger,
  signal: AbortSignal,
  standingBy: (waiting: boolean) => void,
): Promise<boolean> {
  const since = Date.now();
  let announced = false;
  let waiting = false;
  while (!signal.aborted) {
    if (consumer.assignment().length > 0) {
      if (announced)
        logger.info({ task, group }, 'task takes over: this node holds its input partitions now');
      if (waiting) standingBy(false);
      return true;
    }
    if (!waiting) standingBy((waiting = true));
    if (!announced && Date.now() - since > ANNOUNCE_AFTER_MS) {
      announced = true;
      logger.info(
        { task, group },
        'task stands by: another node runs it (consumer group holds its partitions); this one takes over when that node stops',
      );
    }
    await abortableDelay(CHECK_EVERY_MS, signal);
  }
  return false;
}

/** Throws `TaskMovedError` once the consumer no longer holds its partitions (another node took the task). */
export function assertHolding(consumer: Consumer, task: string, group: string): void {
  if (consumer.assignment().length > 0) return;
  throw new TaskMovedError(
    `task ${task}: consumer group "${group}" gave its input partitions to another node; this one stands by`,
  );
}

/**
 * Where the task resumes, per `topic\0partition`: the group's committed offsets, read once this instance fenced
 * the previous one. Its consumer may have fetched from older offsets, committed before that instance's last
 * transaction; records below these were taken care of by it.
 */
export async function committedPositions(consumer: Consumer): Promise<Map<string, number>> {
  const committed: TopicPartitionOffset[] = await consumer.committed();
  return new Map(committed.map((o) => [`${o.topic}\u0000${o.partition}`, o.offset]));
}

/** The consumer group whose exclusive member runs the task. */
export function leaseGroup(task: string): string {
  return `datamesh.lease.${task}`;
}

/**
 * Takes the lease of a task that has no input topics of its own (a source): a member of an exclusive group on
 * the leases topic, which nobody writes. Resolves with it once it holds the topic's partition, or undefined when
 * the task was stopped first; the caller closes it when the task ends, which hands the lease to another node.
 */
export async function takeLease(
  services: Pick<RuntimeServices, 'transport' | 'logger'>,
  task: string,
  signal: AbortSignal,
  standingBy: (waiting: boolean) => void,
): Promise<Consumer | undefined> {
  const { transport, logger } = services;
  if (!(await transport.describeTopic(LEASES_TOPIC)))
    await transport.ensureTopic(LEASES_TOPIC, { partitions: 1 });
  const group = leaseGroup(task);
  const lease = transport.consumer({ group, topics: [LEASES_TOPIC], exclusive: true, fromBeginning: false });
  try {
    if (await untilHolding(lease, task, group, logger, signal, standingBy)) return lease;
  } catch (error) {
    await lease.close().catch(() => undefined);
    throw error;
  }
  await lease.close();
  return undefined;
}
