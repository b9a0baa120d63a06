import { open, stat } from 'node:fs/promises';

/**
 * Counts the change events a file sink appended to its JSON Lines file since the tally started, by
 * operation: `r` (snapshot reads), `c`, `u`, `d`; tombstones (`op` null) are not counted. Each `update()`
 * reads only what was appended since the last one, up to the last complete line.
 */
export class OutputTally {
  readonly ops = new Map<string, number>();
  private readonly path: string;
  private offset: number | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Snapshot rows counted. */
  get snapshot(): number {
    return this.ops.get('r') ?? 0;
  }

  /** Inserts, updates and deletes counted. */
  get live(): number {
    return (this.ops.get('c') ?? 0) + (this.ops.get('u') ?? 0) + (this.ops.get('d') ?? 0);
  }

  /** Starts counting at the file's current end: lines written by earlier runs are not counted. */
  async start(): Promise<void> {
    this.offset = (await stat(this.path).catch(() => undefined))?.size ?? 0;
  }

  async update(): Promise<void> {
    const handle = await open(this.path, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      const from = this.offset ?? 0;
      const size = (await handle.stat()).size;
      if (size <= from) return;
      const chunk = Buffer.alloc(size - from);
      await handle.read(chunk, 0, chunk.length, from);
      const complete = chunk.lastIndexOf(0x0a) + 1;
      for (const line of chunk.subarray(0, complete).toString('utf8').split('\n')) {
        if (!line) continue;
        const { op } = JSON.parse(line) as { op: string | null };
        if (op) this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
      }
      this.offset = from + complete;
    } finally {
      await handle.close();
    }
  }
}
