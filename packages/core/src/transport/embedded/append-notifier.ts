/**
 * Wakes consumers waiting in `poll()` when the writer appends to one of their topics (or when something else
 * they wait on changes, such as their assignment), instead of having them poll the files.
 */
export class AppendNotifier {
  private readonly versions = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();

  /** A number that changes whenever one of `channels` is notified; pass it to `wait`. */
  snapshot(channels: readonly string[]): number {
    let sum = 0;
    for (const channel of channels) sum += this.versions.get(channel) ?? 0;
    return sum;
  }

  notify(channel: string): void {
    this.versions.set(channel, (this.versions.get(channel) ?? 0) + 1);
    for (const waiter of this.waiters) {
      if (waiter.channels.includes(channel)) waiter.wake();
    }
  }

  /** Resolves when one of `channels` is notified after `since` was taken, after `timeoutMs`, or on abort. */
  wait(channels: readonly string[], since: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.snapshot(channels) !== since || timeoutMs <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = { channels, wake: finish };
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Releases every waiter (on close). */
  wakeAll(): void {
    for (const waiter of this.waiters) waiter.wake();
  }
}

interface Waiter {
  readonly channels: readonly string[];
  readonly wake: () => void;
}
