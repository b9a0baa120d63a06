import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

/**
 * A task's state on local disk: string keys in order, JSON values, and a little metadata, in one SQLite file
 * (Node's built-in `node:sqlite`, so no native addon to build). Writes collect in one open transaction that
 * `commit` ends; a crash before it leaves the file as of the last commit. SQLite was picked over LMDB and
 * RocksDB by `tools/bench/state-store.mjs` (tools/bench/README.md has the figures): LMDB was faster, RocksDB
 * slower, and SQLite needs no native addon built on every machine.
 */
export class LocalKvStore {
  private readonly db: DatabaseSync;
  private readonly selectOne: StatementSync;
  private readonly selectRange: StatementSync;
  private readonly upsert: StatementSync;
  private readonly remove: StatementSync;
  private readonly selectMeta: StatementSync;
  private readonly countAll: StatementSync;
  private readonly upsertMeta: StatementSync;
  private inTransaction = false;

  /** Opens (creating) the store at `path`, or an in-memory one for `:memory:`. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    // WAL with synchronous=NORMAL: a process crash never corrupts the file or loses a commit; a power loss may
    // lose the last commits, which the changelog topic still holds. A commit of a batch dirties ~1,000 pages of
    // random rows: with SQLite's default 1,000-page autocheckpoint nearly every commit ran a checkpoint, at
    // 0.5–0.6× the events/s (tools/bench/state-store.mjs); a larger WAL, page cache and mmap reads avoid that.
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA wal_autocheckpoint = 10000;
      PRAGMA cache_size = -65536;
      PRAGMA mmap_size = 1073741824;
      CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
    `);
    this.selectOne = this.db.prepare('SELECT v FROM kv WHERE k = ?');
    this.selectRange = this.db.prepare('SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k');
    this.upsert = this.db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    this.remove = this.db.prepare('DELETE FROM kv WHERE k = ?');
    this.selectMeta = this.db.prepare('SELECT v FROM meta WHERE k = ?');
    this.countAll = this.db.prepare('SELECT count(*) AS n FROM kv');
    this.upsertMeta = this.db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)');
  }

  get(key: string): unknown {
    const row = this.selectOne.get(key) as { v: string } | undefined;
    return row === undefined ? undefined : JSON.parse(row.v);
  }

  /**
   * Entries whose key starts with `prefix`, in key order, read lazily: a caller that stops early (the oldest
   * entries of a time index) reads no more. Write only after the iteration ended.
   */
  *entries(prefix = ''): IterableIterator<[string, unknown]> {
    // Every key with the prefix sorts below the prefix followed by the highest code point.
    const rows = this.selectRange.iterate(prefix, `${prefix}\u{10FFFF}`) as IterableIterator<{
      k: string;
      v: string;
    }>;
    for (const row of rows) yield [row.k, JSON.parse(row.v)];
  }

  put(key: string, value: unknown): void {
    this.begin();
    this.upsert.run(key, JSON.stringify(value));
  }

  delete(key: string): void {
    this.begin();
    this.remove.run(key);
  }

  /** How many entries the store holds, without reading them. */
  size(): number {
    return Number((this.countAll.get() as { n: number | bigint }).n);
  }

  meta(key: string): string | undefined {
    return (this.selectMeta.get(key) as { v: string } | undefined)?.v;
  }

  setMeta(key: string, value: string): void {
    this.begin();
    this.upsertMeta.run(key, value);
  }

  /** Removes every entry and all metadata. */
  clear(): void {
    this.begin();
    this.db.exec('DELETE FROM kv; DELETE FROM meta;');
  }

  /** Makes the writes since the last commit durable together. */
  commit(): void {
    if (!this.inTransaction) return;
    this.db.exec('COMMIT');
    this.inTransaction = false;
  }

  /** Drops the writes since the last commit. */
  rollback(): void {
    if (!this.inTransaction) return;
    this.db.exec('ROLLBACK');
    this.inTransaction = false;
  }

  close(): void {
    this.rollback();
    this.db.close();
  }

  private begin(): void {
    if (this.inTransaction) return;
    this.db.exec('BEGIN');
    this.inTransaction = true;
  }
}
