import type pg from 'pg';

// A workload on a `ledger (id int PRIMARY KEY, ver bigint, note text)`-shaped table with REPLICA IDENTITY FULL, and the
// checker that compares what a pipeline delivered with what was committed.

export interface Line {
  key: { id: number } | null;
  op: string | null;
  before: { id: number; ver: number } | null;
  after: { id: number; ver: number; note: string } | null;
}

/** Writes random changes, one writer, recording each committed change's version per key in commit order. */
export class ChangeGenerator {
  readonly committed = new Map<number, number[]>();
  private running = true;
  private version = 0;
  private done: Promise<void> | undefined;
  count = 0;
  private readonly client: pg.Client;
  private readonly live = new Set<number>();

  private readonly keys: number;
  private readonly table: string;

  /** `existing` rows 1..existing are there already; changes pick among keys 1..`keys` of `table`. */
  constructor(client: pg.Client, existing: number, keys = 6000, table = 'ledger') {
    this.keys = keys;
    this.table = table;
    this.client = client;
    for (let id = 1; id <= existing; id++) this.live.add(id);
  }

  start(changesPerSecond: number): void {
    this.done = (async () => {
      while (this.running) {
        const started = Date.now();
        // Some changes alone, some three to a transaction.
        const batch = Math.random() < 0.3 ? 3 : 1;
        const applied: [number, number][] = [];
        if (batch > 1) await this.client.query('BEGIN');
        for (let i = 0; i < batch; i++) applied.push(await this.change());
        if (batch > 1) await this.client.query('COMMIT');
        for (const [id, ver] of applied) this.committed.set(id, [...(this.committed.get(id) ?? []), ver]);
        this.count += batch;
        const wait = (batch * 1000) / changesPerSecond - (Date.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /** One change; answers the key and the version it leaves (a delete: the version it removed). */
  private async change(): Promise<[number, number]> {
    const id = 1 + Math.floor(Math.random() * this.keys);
    const ver = ++this.version;
    if (!this.live.has(id)) {
      await this.client.query(`INSERT INTO ${this.table} VALUES ($1, $2, 'new')`, [id, ver]);
      this.live.add(id);
      return [id, ver];
    }
    if (Math.random() < 0.25) {
      const { rows } = await this.client.query<{ ver: string }>(
        `DELETE FROM ${this.table} WHERE id = $1 RETURNING ver`,
        [id],
      );
      this.live.delete(id);
      return [id, Number(rows[0]!.ver)];
    }
    await this.client.query(`UPDATE ${this.table} SET ver = $2, note = 'updated' WHERE id = $1`, [id, ver]);
    return [id, ver];
  }
}

/** Per key, the versions of the log changes (c/u/d) in file order; and the state all lines leave. */
export function analyse(lines: readonly Line[]) {
  const logged = new Map<number, number[]>();
  const state = new Map<number, number>();
  let snapshotRows = 0;
  let changes = 0;
  for (const line of lines) {
    if (line.op === null) continue; // tombstones
    const id = line.key!.id;
    if (line.op === 'r') {
      snapshotRows++;
      state.set(id, line.after!.ver);
      continue;
    }
    changes++;
    const ver = line.op === 'd' ? line.before!.ver : line.after!.ver;
    logged.set(id, [...(logged.get(id) ?? []), ver]);
    if (line.op === 'd') state.delete(id);
    else state.set(id, ver);
  }
  return { logged, state, snapshotRows, changes };
}
