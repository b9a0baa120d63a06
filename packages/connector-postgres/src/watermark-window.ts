/**
 * One chunk of a watermark snapshot (DBLog, Andreakis & Papapanagiotou): the chunk was selected between a
 * low and a high watermark written to the log. Log events are never held back; while the window is open
 * (low watermark seen, high not yet), every change to a key of the chunk removes that row from it, because
 * the log already carries that row's history at least as new as the SELECT saw it. At the high watermark the
 * rows left over are current and are emitted, before any later log event.
 */
export class WatermarkWindow<R> {
  private state: 'awaiting-low' | 'open' | 'closed' = 'awaiting-low';
  private readonly rows: Map<string, R>;
  /** The stream whose rows the chunk holds. */
  readonly stream: string;
  readonly lowToken: string;
  readonly highToken: string;

  constructor(
    stream: string,
    lowToken: string,
    highToken: string,
    rows: Iterable<readonly [key: string, row: R]>,
  ) {
    this.stream = stream;
    this.lowToken = lowToken;
    this.highToken = highToken;
    this.rows = new Map(rows);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * A watermark token seen in the log. Returns `'closed'` at this window's high watermark: the caller then
   * emits `survivors()`. Tokens of other windows (an earlier run's, replayed after a restart) are ignored;
   * this window's tokens out of order mean the log is not what was written, and fail closed.
   */
  onWatermark(token: string): 'opened' | 'closed' | 'ignored' {
    if (token === this.lowToken) {
      if (this.state !== 'awaiting-low') throw new Error(`low watermark ${token} seen twice`);
      this.state = 'open';
      return 'opened';
    }
    if (token === this.highToken) {
      if (this.state !== 'open') throw new Error(`high watermark ${token} seen before its low watermark`);
      this.state = 'closed';
      return 'closed';
    }
    return 'ignored';
  }

  /** A log change of `stream` touching these keys (old and new key of an update). */
  onChange(stream: string, keys: readonly (string | undefined)[]): void {
    if (this.state !== 'open' || stream !== this.stream) return;
    for (const key of keys) if (key !== undefined) this.rows.delete(key);
  }

  /** A truncate of `stream` inside the window: no selected row is current any more. */
  onTruncate(stream: string): void {
    if (this.state === 'open' && stream === this.stream) this.rows.clear();
  }

  /** The chunk rows no log change inside the window touched, in selection order. */
  survivors(): R[] {
    return [...this.rows.values()];
  }
}
