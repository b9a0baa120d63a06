import type { ConsumedRecord } from '@datamesh/core';

/** A FIFO of fetched records that poll() takes from; waiters wake when records arrive or it is cleared. */
export class RecordBuffer {
  private items: ConsumedRecord[] = [];
  private head = 0;
  private waiters = new Set<() => void>();

  get size(): number {
    return this.items.length - this.head;
  }

  push(records: readonly ConsumedRecord[]): void {
    if (records.length === 0) return;
    for (const r of records) this.items.push(r);
    this.wake();
  }

  take(max: number): ConsumedRecord[] {
    const end = Math.min(this.items.length, this.head + max);
    const out = this.items.slice(this.head, end);
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.wake();
    return out;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.wake();
  }

  /** Resolves at the next push, take or clear, or after `ms`, or when `signal` aborts. */
  changed(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
