import { abortableDelay, type Logger } from '@datamesh/core';
import { isRetryable } from './search-engine.js';
import type { Counter } from './sink-metrics.js';

export interface RetryOptions {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** The delay before retry number `attempt` (0-based): exponential, capped, with half of it random (jitter). */
export function backoffDelay(attempt: number, options: RetryOptions): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** The error a retry ends with when the task stops while it waits. */
export function stoppedError(what: string, cause: unknown): Error {
  const error = new Error(`stopped while retrying ${what}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
  });
  error.name = 'AbortError';
  return error;
}

/**
 * Retries with backoff until success or until `signal` aborts, for every caller of one sink: it logs a warning
 * when a first retry starts and an info line when nothing is being retried any more — once per outage, not per
 * attempt — and counts every retry.
 */
export class Retrier {
  private readonly options: RetryOptions;
  private readonly signal: AbortSignal;
  private readonly logger: Logger;
  private readonly retries: Counter;
  private open = 0;
  private outageStarted = 0;
  private outageRetries = 0;

  constructor(options: RetryOptions, signal: AbortSignal, logger: Logger, retries: Counter) {
    this.options = options;
    this.signal = signal;
    this.logger = logger;
    this.retries = retries;
  }

  get aborted(): boolean {
    return this.signal.aborted;
  }

  /** Starts the retries of one operation; call `wait` before each retry and `end` once it is done. */
  episode(what: string): RetryEpisode {
    let attempt = 0;
    let counted = false;
    return {
      wait: async (reason: unknown, cause: RetryCause = 'request') => {
        if (this.signal.aborted) throw stoppedError(what, reason);
        if (!counted) {
          counted = true;
          if (this.open++ === 0) {
            this.outageStarted = Date.now();
            this.outageRetries = 0;
            this.logger.warn(
              { err: reason, what },
              'search engine request failed; retrying with backoff until it succeeds',
            );
          }
        }
        this.retries.inc({ cause });
        this.outageRetries++;
        await abortableDelay(backoffDelay(attempt++, this.options), this.signal);
        if (this.signal.aborted) throw stoppedError(what, reason);
      },
      end: (succeeded: boolean) => {
        if (!counted) return;
        counted = false;
        if (--this.open === 0 && succeeded) {
          this.logger.info(
            { seconds: (Date.now() - this.outageStarted) / 1000, retries: this.outageRetries },
            'search engine requests succeed again',
          );
        }
      },
    };
  }

  /** Runs `action` until it succeeds, retrying the failures `isRetryable` accepts; others are thrown. */
  async run<T>(what: string, action: () => Promise<T>): Promise<T> {
    const episode = this.episode(what);
    let succeeded = false;
    try {
      for (;;) {
        try {
          const result = await action();
          succeeded = true;
          return result;
        } catch (error) {
          if (!isRetryable(error)) throw error;
          await episode.wait(error);
        }
      }
    } finally {
      episode.end(succeeded);
    }
  }
}

/** What is retried: a whole request (no usable answer), or some items of a bulk request. */
export type RetryCause = 'request' | 'items';

export interface RetryEpisode {
  /** Waits before the next retry; throws an AbortError when the task stops. */
  wait(reason: unknown, cause?: RetryCause): Promise<void>;
  /** Ends the episode; the outage is logged as over only when the last open one succeeded. */
  end(succeeded: boolean): void;
}
