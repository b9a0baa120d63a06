/**
 * One chunk of a watermark snapshot (DBLog, Andreakis & Papapanagiotou): the chunk was selected between a
 * low and a high watermark written to the log. Log events are never held back; while the window is open
 * (low watermark seen, high not yet), every change to a key of the chunk removes that row from it, because
 * the log already carries that row's history at least as new as the SELECT saw it. At the high watermark the
 * rows left over are current and are emitted, before any later log event.
 *
 * The window exists before its low watermark is written, and the SELECT's rows may arrive after log changes of
 * the window were seen (the next chunk is read while the previous one is written): keys changed in the window
 * are remembered, so rows that arrive later are filtered by them too. The rows must be given before the high
 * watermark is written, which is written after the SELECT.
 */
export class WatermarkWindow<R> {
  private state: 'awaiting-low' | 'open' | 'closed' = 'awaiting-low';
  private rows = new Map<string, R>();
  private rowsGiven = false;
  private truncated = false;
  /** Keys changed in the log while the window was open. */
  private readonly touched = new Set<string>();
  /** The stream whose rows the chunk holds. */
  readonly stream: string;
  readonly lowToken: string;
  readonly highToken: string;

  constructor(
    stream: string,
    lowToken: string,
    highToken: string,
    rows?: Iterable<readonly [key: string, row: R]>,
  ) {
    this.stream = stream;
    this.lowToken = lowToken;
    this.highToken = highToken;
    if (rows) this.setRows(rows);
  }

  /** The chunk the SELECT returned, by key, in selection order (less the keys already changed in the window). */
  setRows(rows: Iterable<readonly [key: string, row: R]>): void {
    this.rowsGiven = true;
    this.rows = new Map();
    if (this.truncated) return;
    for (const [key, row] of rows) if (!this.touched.has(key)) this.rows.set(key, row);
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
      if (!this.rowsGiven) throw new Error(`high watermark ${token} seen before the chunk's rows were given`);
      this.state = 'closed';
      return 'closed';
    }
    return 'ignored';
  }

  /** A log change of `stream` touching these keys (old and new key of an update). */
  onChange(stream: string, keys: readonly (string | undefined)[]): void {
    if (this.state !== 'open' || stream !== this.stream) return;
    for (const key of keys) {
      if (key === undefined) continue;
      this.touched.add(key);
      this.rows.delete(key);
    }
  }

  /** A truncate of `stream` inside the window: no selected row is current any more. */
  onTruncate(stream: string): void {
    if (this.state !== 'open' || stream !== this.stream) return;
    this.truncated = true;
    this.rows.clear();
  }

  /** The chunk rows no log change inside the window touched, in selection order. */
  survivors(): R[] {
    return [...this.rows.values()];
  }
}
