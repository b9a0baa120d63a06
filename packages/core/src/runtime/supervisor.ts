import { abortableDelay } from '../contract/abortable-delay.js';
import type { Logger } from '../contract/context.js';

/**
 * A failure that a restart cannot cure (an incompatible schema change, a source that refuses its input): the
 * supervisor stops the task — the node keeps running its other tasks and reports this one failed — instead of
 * retrying it forever. Nothing after the task's last durable position was written.
 */
export class TaskHaltedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TaskHaltedError';
  }
}

/**
 * The task's work moved to another node (its exclusive consumer lost its partitions): the supervisor starts it
 * again at once, and it stands by until its partitions come back.
 */
export class TaskMovedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TaskMovedError';
  }
}

/**
 * One run of a task until `signal` aborts (resolve) or it fails (reject). A task that waits for another node to
 * let go of its work says so through `standingBy` (true while it waits); a task run once per input partition
 * says which partition numbers it runs on this node through `holding`.
 */
export type TaskRun = (
  signal: AbortSignal,
  standingBy: (waiting: boolean) => void,
  holding?: (partitions: readonly number[]) => void,
) => Promise<void>;

export interface SupervisedTask {
  readonly id: string;
  /** `standby`: running, and waiting for the node that runs its work to let go of it. */
  state: 'starting' | 'running' | 'standby' | 'restarting' | 'stopped' | 'failed';
  restarts: number;
  lastError?: string;
  /** A task run once per input partition: the partition numbers it runs on this node now. */
  partitions?: readonly number[];
  /** Resolves once the task stopped for good. */
  readonly done: Promise<void>;
}

export interface SuperviseOptions {
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly onRestart?: () => void;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/**
 * Keeps a task running: a failure is logged, counted and retried with exponential backoff from the
 * last durable position, until the node stops.
 */
export function supervise(id: string, run: TaskRun, options: SuperviseOptions): SupervisedTask {
  const initial = options.initialBackoffMs ?? 500;
  const max = options.maxBackoffMs ?? 30_000;
  const task: { -readonly [K in keyof SupervisedTask]: SupervisedTask[K] } = {
    id,
    state: 'starting',
    restarts: 0,
    done: Promise.resolve(),
  };
  task.done = (async () => {
    let backoff = initial;
    while (!options.signal.aborted) {
      task.state = 'running';
      const startedAt = Date.now();
      try {
        await run(
          options.signal,
          (waiting) => {
            task.state = waiting ? 'standby' : 'running';
          },
          (partitions) => {
            task.partitions = partitions;
          },
        );
        if (options.signal.aborted) break;
      } catch (error) {
        delete task.partitions;
        task.lastError = (error as Error).message;
        if (options.signal.aborted) {
          // Failing while draining (a last flush or commit) is not retried, but it must be seen.
          options.logger.error({ task: id, err: error }, 'task failed while stopping');
          task.state = 'failed';
          return;
        }
        if (isHalted(error)) {
          options.logger.error({ task: id, err: error }, 'task halted: fix the cause, then restart the node');
          task.state = 'failed';
          return;
        }
        if (error instanceof Error && error.name === 'TaskMovedError') {
          options.logger.info({ task: id, reason: error.message }, 'task moved to another node; standing by');
          task.state = 'restarting';
          backoff = initial;
          continue;
        }
        options.logger.error({ task: id, err: error, retryInMs: backoff }, 'task failed; restarting');
      }
      task.state = 'restarting';
      task.restarts++;
      options.onRestart?.();
      if (Date.now() - startedAt > max) backoff = initial; // it ran healthily for a while
      await abortableDelay(backoff, options.signal);
      backoff = Math.min(backoff * 2, max);
    }
    delete task.partitions;
    task.state = 'stopped';
  })();
  return task;
}

/** By name, so a halt thrown by a plugin built against another copy of core is recognised too. */
function isHalted(error: unknown): boolean {
  return error instanceof Error && error.name === 'TaskHaltedError';
}
