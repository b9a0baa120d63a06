// The local store for a stateful join processor's state: SQLite (Node's built-in `node:sqlite`; synchronous=NORMAL
// and synchronous=OFF), LMDB (the `lmdb` npm package) and RocksDB (`@nxtedition/rocksdb`) side by side, beside a JS
// Map holding the same state in memory (the ceiling: no persistence at all). The join's state per task: the rows of
// two tables by primary key (orders and customers, JSON values of ~200 B) and a secondary index
// `idx\0<customer>\0<order>` read by prefix range scan. Per input event: a get and a put of the changed row, then
// the other side: an order looks up its customer (a get), a customer scans its orders in the index and gets each
// (~5 on average). Writes go into one transaction per batch of 500 events. Each store is then killed with SIGKILL
// in the middle of writing, reopened and checked (the last committed batch is there, counts match), a few times
// over.
//   node tools/bench/state-store.mjs [--events 1000000] [--rows 1000000] [--batch 500] [--runs 1]
//        [--engines sqlite,sqlite-off,lmdb,rocksdb,memory] [--left-share 0.8] [--value-bytes 200] [--cache-mb 64]
//        [--crashes 3] [--restart-gets 10000] [--dir /path/on/the/disk/to/test] [--reinstall]
//        [--sqlite-pragmas 'PRAGMA …'] [--lmdb-options JSON] [--rocksdb-options JSON]
// The npm peers (lmdb, @nxtedition/rocksdb) are installed by this file into .cache/bench/state-stores/<engine>
// (git-ignored), not into the workspace. Every store runs in child processes of its own (this file, with
// --child work|reopen), so RSS and CPU are the engine's alone.
import { fmt, printTable } from './lib/report.mjs';
import { machineText, median } from './lib/run-figures.mjs';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const PEER_ROOT = join(root, '.cache/bench/state-stores');

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '500' },
    runs: { type: 'string', default: '1' },
    engines: { type: 'string', default: 'sqlite,sqlite-off,sqlite-bg,lmdb,rocksdb,memory' },
    'left-share': { type: 'string', default: '0.8' },
    'value-bytes': { type: 'string', default: '200' },
    'cache-mb': { type: 'string', default: '64' },
    crashes: { type: 'string', default: '3' },
    'restart-gets': { type: 'string', default: '10000' },
    'sqlite-pragmas': { type: 'string', default: '' },
    'lmdb-options': { type: 'string', default: '{}' },
    'rocksdb-options': { type: 'string', default: '{}' },
    dir: { type: 'string', default: tmpdir() },
    reinstall: { type: 'boolean', default: false },
    child: { type: 'string' }, // internal: work | reopen, on --store, printing its JSON
    engine: { type: 'string' }, // internal
    store: { type: 'string' }, // internal
    'expect-batch': { type: 'string' }, // internal: the last batch the parent saw committed before its kill
    'write-after': { type: 'boolean', default: false }, // internal: reopen, then write until killed
  },
});
const opts = {
  events: Number(values.events),
  rows: Number(values.rows),
  batch: Number(values.batch),
  runs: Number(values.runs),
  valueBytes: Number(values['value-bytes']),
  cacheMb: Number(values['cache-mb']),
  crashes: Number(values.crashes),
  restartGets: Number(values['restart-gets']),
};
for (const [name, v] of Object.entries(opts)) {
  if (!(Number.isInteger(v) && v > 0)) {
    console.error(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a positive integer`);
    process.exit(2);
  }
}
if (opts.rows < 12) {
  console.error('--rows must be at least 12');
  process.exit(2);
}
opts.leftShare = Number(values['left-share']);
if (!(opts.leftShare >= 0 && opts.leftShare <= 1)) {
  console.error('--left-share must be between 0 and 1');
  process.exit(2);
}

const RESULT_PREFIX = '@@state-store ';
const SEED = 20240611;
const LOAD_BATCH = 5000; // rows per transaction while the store is filled before the measured workload
const NEW_ORDER_SHARE = 0.05; // of order events: a new order
const DELETE_SHARE = 0.02; // of order events: an order deleted (if it exists)
const FK_CHANGE_SHARE = 0.1; // of order updates: moved to another customer (index entry deleted + added)
// A native npm addon has to be this much faster than node:sqlite (built into Node, nothing to install or build)
// to be worth its cost: install size, a binary per platform/libc, install scripts, one more thing to upgrade.
const NATIVE_MARGIN = 1.5;

// Key layout, the same in every engine: one ordered key space, tables and the index told apart by prefix.
const ORDER = 'o\u0000';
const CUSTOMER = 'c\u0000';
const IDX = 'idx\u0000';
const META = 'meta\u0000state';
const idxPrefix = (customer) => `${IDX}${customer}\u0000`;
const idxKey = (customer, order) => `${IDX}${customer}\u0000${order}`;
/** The smallest string above every key starting with `prefix` (its last char + 1). */
const prefixEnd = (prefix) =>
  prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);

const ENGINES = {
  sqlite: { label: 'SQLite NORMAL', persistent: true, sqlite: true },
  'sqlite-off': { label: 'SQLite OFF', persistent: true, sqlite: true },
  'sqlite-bg': { label: 'SQLite NORMAL+bg', persistent: true, sqlite: true },
  lmdb: { label: 'LMDB', persistent: true, peer: { pkg: 'lmdb', version: '3.5.6' } },
  rocksdb: { label: 'RocksDB', persistent: true, peer: { pkg: '@nxtedition/rocksdb', version: '12.2.12' } },
  memory: { label: 'JS Map', persistent: false },
};

// ---------------------------------------------------------------------------------------------------------------
// The stores, behind one synchronous interface: tx(fn, beforeCommit) runs fn in a transaction, calls beforeCommit
// and commits; get/put/del/scan inside it see the transaction's own writes. read(fn): reads only (SQLite: one read transaction).

async function openStore(engine, path) {
  if (engine === 'sqlite') return openSqlite(path, 'NORMAL');
  if (engine === 'sqlite-off') return openSqlite(path, 'OFF');
  if (engine === 'sqlite-bg') return openSqlite(path, 'NORMAL', { background: true });
  if (engine === 'lmdb') return openLmdb(path);
  if (engine === 'rocksdb') return openRocksdb(path);
  if (engine === 'memory') return openMemory();
  throw new Error(`unknown engine ${engine}`);
}

function peerRequire(engine) {
  return createRequire(join(PEER_ROOT, engine, 'package.json'));
}

function peerVersion(engine) {
  const { pkg } = ENGINES[engine].peer;
  try {
    return JSON.parse(readFileSync(join(PEER_ROOT, engine, 'node_modules', pkg, 'package.json'), 'utf8'))
      .version;
  } catch {
    return null;
  }
}

// One table kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID, WAL mode. synchronous=NORMAL: a commit appends to the
// WAL without fsync; checkpoints fsync the WAL and then the database file. A killed process loses nothing
// committed, a power loss at most the last transactions, never the file. synchronous=OFF never fsyncs: still safe
// when the process dies, not when the OS does (the same class as LMDB's noSync). Both with reads through mmap and
// a checkpoint every 10 000 pages (40 MiB of WAL) instead of 1 000: with SQLite's defaults each commit of 500
// random rows (~1 000 dirty pages) ran a checkpoint, and reads went through pread (0.5–0.6× the events/s here).
// NORMAL+bg (background): the checkpoints (and their fsyncs) leave the commit: a worker thread with a connection of
// its own runs a PASSIVE checkpoint every 50 ms, which never blocks the writer. Against a writer that never pauses
// that alone lets the WAL grow without end (it starts over only once a checkpoint has caught up when a write
// begins; it reached 700 MiB in 1M events, and a RESTART checkpoint from the worker never found a gap between two
// transactions). So once the WAL passes 10 000 pages (40 MiB) the writer runs a RESTART checkpoint itself before
// its next transaction: the worker has copied most of the WAL by then, what is left is copied and synced, and the
// WAL starts over. That pause falls between two batches, not into a commit.
async function openSqlite(path, synchronous, { background = false } = {}) {
  const { DatabaseSync } = await import('node:sqlite');
  mkdirSync(path, { recursive: true });
  const file = join(path, 'state.db');
  const db = new DatabaseSync(file);
  db.exec(
    `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA cache_size = -${opts.cacheMb * 1024};
     PRAGMA mmap_size = ${2 ** 34}; PRAGMA wal_autocheckpoint = ${background ? 0 : 10_000};
     PRAGMA busy_timeout = 10000;
     ${values['sqlite-pragmas']};
     CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID`,
  );
  const checkpointer = background ? await startCheckpointer(file, synchronous) : null;
  const rows = (sql) => {
    const statement = db.prepare(sql);
    statement.setReturnArrays(true);
    return statement;
  };
  const get = rows('SELECT v FROM kv WHERE k = ?');
  const put = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
  const del = db.prepare('DELETE FROM kv WHERE k = ?');
  const scan = rows('SELECT k FROM kv WHERE k >= ? AND k < ?');
  const count = rows('SELECT count(*) FROM kv WHERE k >= ? AND k < ?');
  // IMMEDIATE: the write lock at BEGIN, through the busy handler (a deferred transaction that reads first and then
  // finds the checkpointer holding writers off fails at once with SQLITE_BUSY instead of waiting).
  const begin = db.prepare('BEGIN IMMEDIATE');
  const beginRead = db.prepare('BEGIN');
  const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
  const commit = db.prepare('COMMIT');
  const sqliteVersion = db.prepare('SELECT sqlite_version()').get()['sqlite_version()'];
  return {
    version: `SQLite ${sqliteVersion} (node:sqlite)`,
    walPages: () => checkpointer?.maxWalPages() ?? NaN,
    restarts: () => checkpointer?.restarts ?? NaN,
    resetWalPages: () => checkpointer?.reset(),
    tx(fn, beforeCommit = () => {}) {
      // busy = 1: it could not finish (the worker's checkpoint in the way); tried again before the next batch.
      if (checkpointer?.walPages() > RESTART_PAGES && restart.get().busy === 0) checkpointer.restarted();
      begin.run();
      try {
        fn();
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
      beforeCommit();
      commit.run();
    },
    read(fn) {
      beginRead.run();
      try {
        return fn();
      } finally {
        commit.run();
      }
    },
    get: (k) => get.get(k)?.[0],
    put: (k, v) => void put.run(k, v),
    del: (k) => void del.run(k),
    scan: (prefix) => scan.all(prefix, prefixEnd(prefix)).map((r) => r[0]),
    count: (prefix) => count.get(prefix, prefixEnd(prefix))[0],
    check: () => db.prepare('PRAGMA quick_check').all()[0].quick_check,
    async close() {
      await checkpointer?.stop();
      db.close();
    },
  };
}

// The background checkpointer of NORMAL+bg: a worker thread (it runs while the main thread is busy in its
// synchronous batches). It keeps the WAL's size after its last checkpoint and the largest it saw (pages) in
// shared memory.
const RESTART_PAGES = 10_000;
async function startCheckpointer(file, synchronous) {
  const { Worker } = await import('node:worker_threads');
  const shared = new Int32Array(new SharedArrayBuffer(8)); // [largest WAL seen, WAL now]
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const { DatabaseSync } = require('node:sqlite');
     const db = new DatabaseSync(workerData.file);
     db.exec('PRAGMA busy_timeout = 1000; PRAGMA synchronous = ' + workerData.synchronous);
     const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
     const timer = setInterval(() => {
       const { log } = passive.get(); // -1: busy (the writer's RESTART running), nothing learnt
       if (log > Atomics.load(workerData.shared, 0)) Atomics.store(workerData.shared, 0, log);
       if (log >= 0) Atomics.store(workerData.shared, 1, log);
     }, 50);
     parentPort.once('message', () => {
       clearInterval(timer);
       db.close();
       parentPort.postMessage('closed');
     });
     parentPort.postMessage('ready');`,
    { eval: true, workerData: { file, synchronous, shared } },
  );
  const next = () =>
    new Promise((resolveMessage, reject) => {
      worker.once('message', resolveMessage);
      worker.once('error', reject);
    });
  await next();
  return {
    walPages: () => Atomics.load(shared, 1),
    maxWalPages: () => Atomics.load(shared, 0),
    restarts: 0,
    restarted() {
      Atomics.store(shared, 1, 0);
      this.restarts++;
    },
    reset() {
      Atomics.store(shared, 0, 0);
      this.restarts = 0;
    },
    async stop() {
      worker.postMessage('stop');
      await next();
      await worker.terminate();
    },
  };
}

// noSync: commits are not fsynced (LMDB's copy-on-write B-tree with its two meta pages stays consistent when the
// process dies; an OS crash can lose or, without sync, tear recent transactions). Values as UTF-8 strings, keys in
// lmdb-js's ordered-binary encoding. Synchronous transactions (transactionSync) on the main thread.
async function openLmdb(path) {
  const lmdb = peerRequire('lmdb')('lmdb');
  mkdirSync(path, { recursive: true });
  const db = lmdb.open({
    path: join(path, 'state.mdb'),
    encoding: 'string',
    noSync: true,
    ...JSON.parse(values['lmdb-options']),
  });
  return {
    version: `lmdb ${peerVersion('lmdb')} (LMDB ${[lmdb.version?.major, lmdb.version?.minor, lmdb.version?.patch].join('.')})`,
    tx(fn, beforeCommit = () => {}) {
      db.transactionSync(() => {
        fn();
        beforeCommit();
      });
    },
    read: (fn) => fn(),
    get: (k) => db.get(k),
    put: (k, v) => void db.putSync(k, v),
    del: (k) => void db.removeSync(k),
    scan: (prefix) => Array.from(db.getKeys({ start: prefix, end: prefixEnd(prefix) })),
    count: (prefix) => db.getCount({ start: prefix, end: prefixEnd(prefix) }),
    check: () => 'n/a',
    close: () => db.close(),
  };
}

// The binding's defaults (bloom filters, 64 MiB memtables) except compression (off, as Kafka Streams configures
// its RocksDB stores; the binding's default ZSTD with dictionaries took ~1.4× the CPU per event here for a third
// of the size: `--rocksdb-options '{"compression":true}'`), a block cache of --cache-mb, WAL on, no fsync per
// write (a killed process loses nothing written; flushes and compactions fsync their files in the background). The binding's synchronous calls (_getManySync, querySync,
// a WriteBatch's _writeSync) keep it on the same footing as the other two. A WriteBatch is not readable before it
// is written, so the batch's writes are also kept in a Map the reads look into first (what the processor would
// have to do with this binding); the scan adds and removes the batch's own index entries under its prefix.
async function openRocksdb(path) {
  const { RocksLevel } = peerRequire('rocksdb')('@nxtedition/rocksdb');
  const db = new RocksLevel(join(path, 'rocks'), {
    cacheSize: opts.cacheMb << 20,
    compression: false,
    ...JSON.parse(values['rocksdb-options']),
  });
  await db.open();
  const GET = { valueEncoding: 'utf8' };
  const EMPTY = {};
  let batch = null;
  const pending = new Map(); // key → value, or null when deleted in this batch
  const pendingIdx = new Map(); // index prefix → keys under it written in this batch
  const track = (k) => {
    if (!k.startsWith(IDX)) return;
    const prefix = k.slice(0, k.lastIndexOf('\u0000') + 1);
    let keys = pendingIdx.get(prefix);
    if (!keys) pendingIdx.set(prefix, (keys = new Set()));
    keys.add(k);
  };
  const range = (prefix) => ({ gte: prefix, lt: prefixEnd(prefix), values: false, keyEncoding: 'utf8' });
  const storedKeys = (prefix) => {
    const { rows } = db.querySync(range(prefix));
    const keys = [];
    for (let i = 0; i < rows.length; i += 2) keys.push(rows[i]);
    return keys;
  };
  return {
    version: `@nxtedition/rocksdb ${peerVersion('rocksdb')}`,
    tx(fn, beforeCommit = () => {}) {
      batch = db.batch();
      try {
        fn();
        beforeCommit();
        batch._writeSync();
      } finally {
        batch._closeSync();
        // abstract-level tracks every open batch until its (asynchronous) close; this loop never yields, so the
        // batch is let go here (before this, 2 000 batches and their operations held ~1 GB of heap).
        db.detachResource(batch);
        batch = null;
        pending.clear();
        pendingIdx.clear();
      }
    },
    read: (fn) => fn(),
    get(k) {
      const v = pending.get(k);
      if (v !== undefined) return v === null ? undefined : v;
      return db._getManySync([k], GET)[0];
    },
    put(k, v) {
      batch._put(k, v, EMPTY); // the binding's own put: no copy of the operation in abstract-level's list
      pending.set(k, v);
      track(k);
    },
    del(k) {
      batch._del(k, EMPTY);
      pending.set(k, null);
      track(k);
    },
    scan(prefix) {
      const keys = storedKeys(prefix);
      const own = pendingIdx.get(prefix);
      if (!own) return keys;
      const merged = new Set(keys);
      for (const k of own) {
        if (pending.get(k) === null) merged.delete(k);
        else merged.add(k);
      }
      return [...merged];
    },
    count(prefix) {
      // Through an iterator in chunks (reads every block, checksums verified), not a 1M-key array at once.
      const it = db.iterator(range(prefix));
      let n = 0;
      for (;;) {
        const { rows, finished } = it._nextvSync(10_000, {});
        n += rows.length / 2;
        if (finished) break;
      }
      it._closeSync();
      return n;
    },
    check: () => 'n/a',
    close: () => db.close(),
  };
}

// The ceiling: the same state in a Map, the index as prefix → Set of keys. Nothing persists, commit is free.
function openMemory() {
  const rows = new Map();
  const index = new Map();
  const prefixOf = (k) => k.slice(0, k.lastIndexOf('\u0000') + 1);
  return {
    version: `V8 ${process.versions.v8.split('.').slice(0, 2).join('.')}`,
    tx(fn, beforeCommit = () => {}) {
      fn();
      beforeCommit();
    },
    read: (fn) => fn(),
    get: (k) => rows.get(k),
    put(k, v) {
      if (!k.startsWith(IDX)) return void rows.set(k, v);
      const prefix = prefixOf(k);
      let keys = index.get(prefix);
      if (!keys) index.set(prefix, (keys = new Set()));
      keys.add(k);
    },
    del(k) {
      if (!k.startsWith(IDX)) return void rows.delete(k);
      index.get(prefixOf(k))?.delete(k);
    },
    scan: (prefix) => [...(index.get(prefix) ?? [])],
    count: () => NaN,
    check: () => 'n/a',
    close() {},
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The workload. Deterministic (one PRNG, seeded): every engine sees the same events, and since an event's path
// depends on what the store answers, equal join figures across engines also check that they answered alike.

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Row text: words from a made-up vocabulary, so values compress about like real text (not like repeated bytes).
const TEXT = (() => {
  const rng = mulberry32(7);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const words = Array.from({ length: 2000 }, () =>
    Array.from({ length: 3 + Math.floor(rng() * 7) }, () => letters[Math.floor(rng() * 26)]).join(''),
  );
  const out = [];
  for (let n = 0; n < 1 << 20;) {
    const w = words[Math.floor(rng() * words.length)];
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ');
})();
const STATUSES = ['new', 'paid', 'shipped', 'delivered'];
const COUNTRIES = ['DE', 'FR', 'NL', 'US', 'GB', 'PL', 'SE', 'ES'];
const text = (rng, length) =>
  TEXT.substr(Math.floor(rng() * (TEXT.length - opts.valueBytes)), Math.max(4, length));

function orderRow(id, customer, version, rng) {
  const head =
    `{"id":${id},"customer_id":${customer},"status":"${STATUSES[version & 3]}",` +
    `"amount":${((id * 7919 + version) % 100000) / 100},"currency":"EUR","items":${1 + (id % 9)},` +
    `"version":${version},"updated_at":${1_700_000_000_000 + version * 13},"note":"`;
  return `${head}${text(rng, opts.valueBytes - head.length - 2)}"}`;
}

function customerRow(id, version, rng) {
  const head =
    `{"id":${id},"name":"${text(rng, 12)}","email":"c${id}@example.com","country":"${COUNTRIES[id & 7]}",` +
    `"tier":"${version & 1 ? 'gold' : 'silver'}","version":${version},"note":"`;
  return `${head}${text(rng, opts.valueBytes - head.length - 2)}"}`;
}

/** The state a run starts from: customers C = rows/6, orders rows − C, each with a random customer (~5 each). */
function initialState() {
  const customers = Math.max(1, Math.round(opts.rows / 6));
  const orders = opts.rows - customers;
  return {
    batch: 0,
    customers,
    orders,
    idx: orders,
    nextOrder: orders,
    version: 0,
    joined: 0, // join results emitted
    joinBytes: 0, // their bytes: both figures must be equal across engines
    readBytes: 0, // bytes of the previous rows read
    scans: 0,
    scanned: 0, // index keys the scans returned
  };
}

const metaOf = (st) =>
  JSON.stringify({
    batch: st.batch,
    customers: st.customers,
    orders: st.orders,
    idx: st.idx,
    nextOrder: st.nextOrder,
    version: st.version,
  });

function load(store, st) {
  const rng = mulberry32(SEED);
  for (let from = 0; from < st.customers; from += LOAD_BATCH) {
    store.tx(() => {
      for (let id = from; id < Math.min(st.customers, from + LOAD_BATCH); id++)
        store.put(CUSTOMER + id, customerRow(id, 0, rng));
    });
  }
  for (let from = 0; from < st.orders; from += LOAD_BATCH) {
    store.tx(() => {
      for (let id = from; id < Math.min(st.orders, from + LOAD_BATCH); id++) {
        const customer = Math.floor(rng() * st.customers);
        store.put(ORDER + id, orderRow(id, customer, 0, rng));
        store.put(idxKey(customer, id), '');
      }
      if (from + LOAD_BATCH >= st.orders) store.put(META, metaOf(st));
    });
  }
}

/** One input event: the row's get + put (+ index upkeep), then the other side's lookup. */
function runEvent(store, st, rng) {
  const version = ++st.version;
  if (rng() < opts.leftShare) {
    const kind = rng();
    const id = kind < NEW_ORDER_SHARE ? st.nextOrder++ : Math.floor(rng() * st.nextOrder);
    const key = ORDER + id;
    const old = store.get(key);
    const oldCustomer = old === undefined ? -1 : JSON.parse(old).customer_id;
    if (old !== undefined) st.readBytes += old.length;
    if (kind >= NEW_ORDER_SHARE && kind < NEW_ORDER_SHARE + DELETE_SHARE) {
      if (old === undefined) return;
      store.del(key);
      store.del(idxKey(oldCustomer, id));
      st.orders--;
      st.idx--;
      return;
    }
    const customer =
      old !== undefined && rng() >= FK_CHANGE_SHARE ? oldCustomer : Math.floor(rng() * st.customers);
    store.put(key, orderRow(id, customer, version, rng));
    if (old === undefined) {
      store.put(idxKey(customer, id), '');
      st.orders++;
      st.idx++;
    } else if (customer !== oldCustomer) {
      store.del(idxKey(oldCustomer, id));
      store.put(idxKey(customer, id), '');
    }
    const other = store.get(CUSTOMER + customer);
    if (other !== undefined) {
      st.joined++;
      st.joinBytes += other.length;
    }
  } else {
    const id = Math.floor(rng() * st.customers);
    const key = CUSTOMER + id;
    const old = store.get(key);
    if (old !== undefined) st.readBytes += old.length;
    store.put(key, customerRow(id, version, rng));
    const prefix = idxPrefix(id);
    const keys = store.scan(prefix);
    st.scans++;
    st.scanned += keys.length;
    for (const k of keys) {
      const order = store.get(ORDER + k.slice(prefix.length));
      if (order === undefined) throw new Error(`index entry ${JSON.stringify(k)} without its order`);
      st.joined++;
      st.joinBytes += order.length;
    }
  }
}

// The machine is shared: time this thread spent runnable but waiting for a CPU (run_delay of
// /proc/thread-self/schedstat) is not the store's doing. Subtracted, it leaves the time the thread ran or was
// blocked (I/O, fsync, locks) — the figures "without CPU queueing". 0 where the file is missing.
const schedFd = (() => {
  try {
    return openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return -1;
  }
})();
const schedBuf = Buffer.alloc(128);
function schedstat() {
  if (schedFd < 0) return [NaN, 0];
  const n = readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
  return schedBuf.toString('latin1', 0, n).split(' ').slice(0, 2).map(Number);
}
const queuedMs = () => schedstat()[1] / 1e6;
/** This thread's CPU seconds (the other threads: RocksDB's flushes and compactions, the checkpointer). */
const mainCpuS = () => schedstat()[0] / 1e9;

/** Resident memory by kind, MiB: anonymous (heaps, caches) and file-backed (mmap'd store files, code). */
function rssKinds() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1] ?? NaN) / 1024;
    return { anonMb: kb('RssAnon'), fileMb: kb('RssFile') + kb('RssShmem') };
  } catch {
    return { anonMb: NaN, fileMb: NaN };
  }
}

/** A batch of events in one transaction, the meta row (batch number, counts) written with it. */
function runBatch(store, st, rng, events) {
  const t0 = performance.now();
  const q0 = queuedMs();
  let t1 = 0;
  let q1 = 0;
  store.tx(
    () => {
      for (let i = 0; i < events; i++) runEvent(store, st, rng);
      store.put(META, metaOf({ ...st, batch: st.batch + 1 }));
    },
    () => {
      t1 = performance.now();
      q1 = queuedMs();
    },
  );
  const t2 = performance.now();
  const q2 = queuedMs();
  st.batch++;
  return { batchMs: t2 - t0, commitMs: t2 - t1, commitOwnMs: t2 - t1 - (q2 - q1), queuedMs: q2 - q0 };
}

// ---------------------------------------------------------------------------------------------------------------
// Children. work: a fresh store, filled, then the measured workload; its figures printed, it goes on writing
// (a line per committed batch) until the parent kills it. reopen: the store after a kill or a clean close, timed
// to its first get, random gets, then (--expect-batch) checked; with --write-after it writes again until killed.

const emit = (kind, body) => writeSync(1, `${RESULT_PREFIX}${kind} ${JSON.stringify(body)}\n`);

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

function nativeModules() {
  try {
    const paths = new Set();
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const path = line.slice(line.indexOf('/'));
      if (line.includes('/') && path.endsWith('.node')) paths.add(relative(PEER_ROOT, path));
    }
    return [...paths];
  } catch {
    return [];
  }
}

function writeUntilKilled(store, st) {
  const rng = mulberry32(SEED + 1 + st.batch);
  const until = performance.now() + 120_000;
  while (performance.now() < until) {
    runBatch(store, st, rng, opts.batch);
    writeSync(1, `${RESULT_PREFIX}committed ${st.batch}\n`);
  }
  throw new Error('was not killed within 120 s');
}

async function runChild(mode, engine, path) {
  const moduleStarted = performance.now();
  const store = await openStore(engine, path);
  const openMs = performance.now() - moduleStarted;

  if (mode === 'work') {
    const st = initialState();
    let started = performance.now();
    load(store, st);
    const loadMs = performance.now() - started;
    store.resetWalPages?.(); // the figure is the workload's, not the fill's
    const rng = mulberry32(SEED + 1);
    const commits = [];
    const commitsOwn = [];
    const batches = [];
    let queued = 0;
    const cpu = process.cpuUsage();
    const mainCpu = mainCpuS();
    started = performance.now();
    for (let done = 0; done < opts.events; done += opts.batch) {
      const b = runBatch(store, st, rng, Math.min(opts.batch, opts.events - done));
      commits.push(b.commitMs);
      commitsOwn.push(b.commitOwnMs);
      batches.push(b.batchMs);
      queued += b.queuedMs;
    }
    const workMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    for (const xs of [commits, commitsOwn, batches]) xs.sort((a, b) => a - b);
    emit('result', {
      version: store.version,
      native: nativeModules(),
      openMs,
      loadMs,
      workMs,
      workOwnMs: workMs - queued,
      queuedS: queued / 1000,
      cpuS: (used.user + used.system) / 1e6,
      mainCpuS: mainCpuS() - mainCpu,
      rssKinds: rssKinds(),
      heapMb: process.memoryUsage().heapUsed / 2 ** 20,
      walPages: store.walPages?.() ?? NaN,
      walRestarts: store.restarts?.() ?? NaN,
      commitP50: percentile(commits, 0.5),
      commitP99: percentile(commits, 0.99),
      commitMax: commits.at(-1),
      commitOwnP99: percentile(commitsOwn, 0.99),
      batchP50: percentile(batches, 0.5),
      batchP99: percentile(batches, 0.99),
      rssMb: process.memoryUsage().rss / 2 ** 20,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      state: st,
      pid: process.pid,
    });
    if (!ENGINES[engine].persistent) return store.close();
    writeSync(1, `${RESULT_PREFIX}committed ${st.batch}\n`);
    writeUntilKilled(store, st);
  }

  // reopen: openMs above is module load (for the npm engines) + open; the first get completes the restart.
  const rng = mulberry32(SEED + 2);
  let started = performance.now();
  const first = store.get(ORDER + Math.floor(rng() * opts.rows * 0.8));
  const restartMs = openMs + performance.now() - started;
  const meta = JSON.parse(store.get(META));
  const gets = opts.restartGets;
  started = performance.now();
  let found = 0;
  // In one read transaction, as the processor reads within its batch (SQLite: one lock round instead of one
  // per statement).
  store.read(() => {
    for (let i = 0; i < gets; i++) {
      const key =
        rng() < 0.8
          ? ORDER + Math.floor(rng() * meta.nextOrder)
          : CUSTOMER + Math.floor(rng() * meta.customers);
      if (store.get(key) !== undefined) found++;
    }
  });
  const getUs = ((performance.now() - started) * 1000) / gets;
  const result = { restartMs, firstFound: first !== undefined, getUs, found, meta };
  if (values['expect-batch'] !== undefined) {
    started = performance.now();
    const expected = Number(values['expect-batch']);
    const counts = { orders: store.count(ORDER), customers: store.count(CUSTOMER), idx: store.count(IDX) };
    const integrity = store.check();
    const problems = [];
    if (meta.batch < expected || meta.batch > expected + 1)
      problems.push(`batch ${meta.batch}, the parent saw ${expected} committed`);
    for (const [name, n] of Object.entries(counts))
      if (n !== meta[name]) problems.push(`${n} ${name} in the store, ${meta[name]} in its meta row`);
    if (integrity !== 'ok' && integrity !== 'n/a') problems.push(`integrity check: ${integrity}`);
    Object.assign(result, { counts, integrity, problems, verifyMs: performance.now() - started });
  }
  emit('result', result);
  if (values['write-after']) {
    const st = { ...initialState(), ...meta };
    writeUntilKilled(store, st);
  }
  await store.close();
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: the peers installed, then per run and engine: the work child (killed mid-write), reopen children (each
// checks, writes, is killed again; the last closes cleanly), a reopen after the clean close; then the table.

/** Installs an engine's npm peer into .cache/bench/state-stores/<engine> unless it is there (or --reinstall). */
function ensurePeer(engine) {
  const { pkg, version } = ENGINES[engine].peer;
  const dir = join(PEER_ROOT, engine);
  const info = { pkg, dir };
  if (values.reinstall || peerVersion(engine) !== version) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: `bench-state-store-${engine}`, private: true, dependencies: { [pkg]: version } }, null, 2)}\n`,
    );
    const npm = join(dirname(process.execPath), 'npm');
    // Should no prebuilt binary fit, node-gyp compiles against the headers of this Node, not downloaded ones.
    const nodedir = resolve(dirname(process.execPath), '..');
    const env = { ...process.env };
    if (existsSync(join(nodedir, 'include/node/node_api.h'))) env.npm_config_nodedir = nodedir;
    console.log(`installing ${pkg}@${version} into ${relative(root, dir)} …`);
    const started = performance.now();
    const npmRun = spawnSync(existsSync(npm) ? npm : 'npm', ['install', '--no-audit', '--no-fund'], {
      cwd: dir,
      env,
      encoding: 'utf8',
    });
    info.installS = (performance.now() - started) / 1000;
    info.installLog = `${npmRun.stdout ?? ''}${npmRun.stderr ?? ''}`.trim();
    if (npmRun.status !== 0 || peerVersion(engine) !== version) {
      info.error = `npm install failed (${npmRun.error?.message ?? `exit ${npmRun.status}`}): ${info.installLog.slice(-500)}`;
      return info;
    }
  }
  info.version = peerVersion(engine);
  info.sizeMb = directoryBytes(join(dir, 'node_modules')) / 1e6;
  // Packages: a package.json right under node_modules/<name>/ or node_modules/@scope/<name>/, at any depth.
  info.packages = readdirSync(join(dir, 'node_modules'), { recursive: true })
    .map((f) => `node_modules/${f}`.replace(/^.*node_modules\//, ''))
    .filter((f) => /^(@[^/]+\/)?[^/@][^/]*\/package\.json$/.test(f)).length;
  // node-gyp leaves build/Release behind when it compiled the addon instead of taking a prebuilt one.
  info.compiled = existsSync(join(dir, 'node_modules', pkg, 'build', 'Release'));
  return info;
}

/** Allocated bytes (st_blocks) of the files under `path`. */
function directoryBytes(path) {
  if (!existsSync(path)) return 0;
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.blocks * 512;
  let total = 0;
  for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += lstatSync(join(entry.parentPath, entry.name)).blocks * 512;
  }
  return total;
}

/** One child process: its result line, the committed batches it reported, and a kill switch. */
function startChild(mode, engine, store, extra = []) {
  const args = [fileURLToPath(import.meta.url), '--child', mode, '--engine', engine, '--store', store];
  for (const flag of [
    'events',
    'rows',
    'batch',
    'left-share',
    'value-bytes',
    'cache-mb',
    'restart-gets',
    'sqlite-pragmas',
    'lmdb-options',
    'rocksdb-options',
  ])
    args.push(`--${flag}`, String(values[flag]));
  const child = spawn(process.execPath, [...args, ...extra], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = { child, committed: -1, stderr: '', result: null };
  let resolveResult;
  handle.resultReady = new Promise((r) => (resolveResult = r));
  let buffer = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith(RESULT_PREFIX)) {
        if (line.trim()) console.log(`  [${engine} ${mode}] ${line}`);
        continue;
      }
      const body = line.slice(RESULT_PREFIX.length);
      if (body.startsWith('committed ')) handle.committed = Number(body.slice('committed '.length));
      else if (body.startsWith('result '))
        resolveResult((handle.result = JSON.parse(body.slice('result '.length))));
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (handle.stderr += d));
  handle.exited = new Promise((r) => child.on('close', (code, signal) => r(code ?? signal)));
  // A child that exits without a result line fails the engine's run.
  handle.exited.then((how) => resolveResult(null, how));
  handle.failure = async () => `exit ${await handle.exited}: ${handle.stderr.trim().slice(-1500)}`;
  return handle;
}

/** Waits for a child's result; kills it when it hangs (30 min). Throws with its stderr when it fails. */
async function resultOf(handle) {
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), 30 * 60_000);
  const result = await handle.resultReady;
  clearTimeout(timer);
  if (!result) throw new Error(await handle.failure());
  return result;
}

/** SIGKILL a writing child after 100–600 ms of writing; answers the last batch it reported committed. */
async function killWhileWriting(handle) {
  await sleep(100 + Math.random() * 500);
  if (handle.child.exitCode !== null)
    throw new Error(`stopped writing on its own: ${await handle.failure()}`);
  handle.child.kill('SIGKILL');
  await handle.exited;
  // A reopened child that was killed before its first commit: the batch it reopened at.
  return Math.max(handle.committed, handle.result?.meta?.batch ?? -1);
}

async function runEngine(engine, workDir, run) {
  const store = join(workDir, `${engine}-${run}`);
  const out = { engine, restarts: [] };
  try {
    const work = startChild('work', engine, store);
    Object.assign(out, await resultOf(work));
    if (!ENGINES[engine].persistent) {
      await work.exited;
      return out;
    }
    let committed = await killWhileWriting(work);
    for (let crash = 1; crash <= opts.crashes; crash++) {
      const last = crash === opts.crashes;
      const extra = ['--expect-batch', String(committed), ...(last ? [] : ['--write-after'])];
      const reopen = startChild('reopen', engine, store, extra);
      const result = await resultOf(reopen);
      out.restarts.push({ ...result, killedAfter: committed });
      if (result.problems.length > 0) {
        reopen.child.kill('SIGKILL');
        await reopen.exited;
        break;
      }
      if (last) {
        if ((await reopen.exited) !== 0) throw new Error(`close failed: ${await reopen.failure()}`);
      } else committed = await killWhileWriting(reopen);
    }
    out.sizeMb = directoryBytes(store) / 1e6;
    const clean = startChild('reopen', engine, store);
    out.clean = await resultOf(clean);
    await clean.exited;
  } catch (error) {
    out.error = error.message;
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
  return out;
}

async function runParent() {
  const selected = values.engines.split(',').filter(Boolean);
  const unknown = selected.filter((e) => !ENGINES[e]);
  if (unknown.length > 0) {
    console.error(`unknown engine ${unknown.join(', ')}; known: ${Object.keys(ENGINES).join(', ')}`);
    process.exit(2);
  }
  const installs = {};
  for (const engine of selected) {
    if (ENGINES[engine].peer) installs[engine] = ensurePeer(engine);
  }

  const workDir = mkdtempSync(join(values.dir, 'datamesh-bench-state-'));
  process.once('SIGINT', () => {
    rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  });
  const customers = Math.round(opts.rows / 6);
  console.log(
    `\n${fmt(opts.rows)} rows (${fmt(customers)} customers, ${fmt(opts.rows - customers)} orders + their index ` +
      `entries), then ${fmt(opts.events)} events in transactions of ${fmt(opts.batch)} ` +
      `(${fmt(opts.leftShare * 100)} % order changes, the rest customer changes), values ~${opts.valueBytes} B, ` +
      `${opts.crashes}× kill -9 per store; ${opts.runs} run(s); dir ${values.dir}\n${machineText()}`,
  );
  const results = Object.fromEntries(selected.map((e) => [e, []]));
  const startedAll = performance.now();
  try {
    for (let run = 1; run <= opts.runs; run++) {
      // The order rotates between runs, so a drift of the machine's load spreads over the engines.
      const order = selected.map((_, i) => selected[(i + run - 1) % selected.length]);
      for (const engine of order) {
        if (installs[engine]?.error) continue;
        const started = performance.now();
        const r = await runEngine(engine, workDir, run);
        results[engine].push(r);
        const took = fmt((performance.now() - started) / 1000, 0);
        if (r.error) console.log(`run ${run} ${engine}: FAILED after ${took} s: ${r.error}`);
        else
          console.log(
            `run ${run} ${engine}: ${fmt(opts.events / (r.workMs / 1000))} events/s, commit p99 ` +
              `${fmt(r.commitP99, 1)} ms (${took} s)`,
          );
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  console.log(`(all runs: ${fmt((performance.now() - startedAll) / 1000, 0)} s)`);
  report(selected, results, installs);
}

// ---------------------------------------------------------------------------------------------------------------
// The table, the spread over runs, and the pick.

function report(selected, results, installs) {
  const ok = (engine) => results[engine].filter((r) => !r.error);
  const med = (engine, get) => median(ok(engine).map(get));
  const eventsPerS = (r) => opts.events / (r.workMs / 1000);
  const ownEventsPerS = (r) => opts.events / (r.workOwnMs / 1000);
  const crashOk = (engine) =>
    ok(engine).length > 0 &&
    ok(engine).every(
      (r) => r.restarts.length === opts.crashes && r.restarts.every((c) => !c.problems.length),
    );
  const persistent = (engine) => ENGINES[engine].persistent;
  const cell = (engine, get, digits = 0) => {
    if (installs[engine]?.error) return 'not installed';
    if (ok(engine).length === 0) return 'failed';
    return fmt(med(engine, get), digits);
  };
  const onlyStored = (engine, get, digits) => (persistent(engine) ? cell(engine, get, digits) : 'n/a');
  const memory = selected.includes('memory') && ok('memory').length > 0 ? med('memory', ownEventsPerS) : NaN;
  const first = (engine) => ok(engine)[0];

  const rows = [
    ['figure (median of runs)', ...selected.map((e) => ENGINES[e].label)],
    ['version', ...selected.map((e) => first(e)?.version ?? installs[e]?.version ?? '-')],
    [
      `fill ${fmt(opts.rows)} rows, rows/s`,
      ...selected.map((e) => cell(e, (r) => opts.rows / (r.loadMs / 1000))),
    ],
    ['mixed workload, events/s', ...selected.map((e) => cell(e, eventsPerS))],
    ['  without CPU queueing, events/s', ...selected.map((e) => cell(e, ownEventsPerS))],
    [
      '  × the in-memory Map (without queueing)',
      ...selected.map((e) => (ok(e).length && memory ? `${fmt(med(e, ownEventsPerS) / memory, 2)}×` : '-')),
    ],
    [
      '  main thread queued for a CPU, % of wall',
      ...selected.map((e) => cell(e, (r) => (r.queuedS * 1e5) / r.workMs, 0)),
    ],
    [
      '  CPU s per 100k events: all threads / main',
      ...selected.map((e) =>
        ok(e).length
          ? `${fmt(
              med(e, (r) => (r.cpuS * 1e5) / opts.events),
              2,
            )} / ${fmt(
              med(e, (r) => (r.mainCpuS * 1e5) / opts.events),
              2,
            )}`
          : cell(e, () => NaN),
      ),
    ],
    [
      '  CPU s / wall s (below 1: waiting)',
      ...selected.map((e) => cell(e, (r) => r.cpuS / (r.workMs / 1000), 2)),
    ],
    [`batch of ${opts.batch}, p50 / p99 ms`, ...selected.map((e) => pair(e, 'batchP50', 'batchP99'))],
    ['commit, p50 / p99 ms', ...selected.map((e) => pair(e, 'commitP50', 'commitP99'))],
    ['commit, max ms', ...selected.map((e) => cell(e, (r) => r.commitMax, 1))],
    ['commit p99 without CPU queueing, ms', ...selected.map((e) => cell(e, (r) => r.commitOwnP99, 1))],
    ['RSS at the end / peak, MiB', ...selected.map((e) => pair(e, 'rssMb', 'peakRssMb', 0))],
    ['  JS heap used at the end, MiB', ...selected.map((e) => cell(e, (r) => r.heapMb))],
    [
      '  at the end: anonymous / file-backed, MiB',
      ...selected.map((e) =>
        ok(e).length
          ? `${fmt(med(e, (r) => r.rssKinds.anonMb))} / ${fmt(med(e, (r) => r.rssKinds.fileMb))}`
          : cell(e, () => NaN),
      ),
    ],
    [
      'reopen after kill -9 → first get, ms',
      ...selected.map((e) => onlyStored(e, (r) => median(r.restarts.map((c) => c.restartMs)), 1)),
    ],
    [
      'reopen after clean close → first get, ms',
      ...selected.map((e) => onlyStored(e, (r) => r.clean?.restartMs, 1)),
    ],
    [
      `${fmt(opts.restartGets)} random gets after reopen, µs/get`,
      ...selected.map((e) => onlyStored(e, (r) => median(r.restarts.map((c) => c.getUs)), 1)),
    ],
    [
      `kill -9 while writing (${opts.crashes}× per run)`,
      ...selected.map((e) => {
        if (!persistent(e)) return 'n/a';
        if (ok(e).length === 0) return '-';
        const checks = ok(e).flatMap((r) => r.restarts);
        const bad = checks.filter((c) => c.problems.length);
        return bad.length ? `BROKEN: ${bad[0].problems[0]}` : `ok ${checks.length}/${checks.length}`;
      }),
    ],
    [
      '  check after reopen (full scan), s',
      ...selected.map((e) => onlyStored(e, (r) => median(r.restarts.map((c) => c.verifyMs)) / 1000, 1)),
    ],
    ['size on disk after close, MB', ...selected.map((e) => onlyStored(e, (r) => r.sizeMb, 0))],
    [
      'install (npm) size MB / packages',
      ...selected.map((e) => {
        const i = installs[e];
        if (!i) return ENGINES[e].sqlite ? '0 (built into Node)' : '-';
        if (i.error) return 'failed';
        return `${fmt(i.sizeMb, 0)} / ${i.packages}`;
      }),
    ],
    [
      'native code',
      ...selected.map((e) => {
        const i = installs[e];
        if (!i) return ENGINES[e].sqlite ? 'in the node binary' : 'none';
        if (i.error) return 'failed';
        const loaded = first(e)?.native.filter((p) => !p.startsWith('..')) ?? [];
        const what = i.compiled ? 'compiled by node-gyp' : 'prebuilt';
        // The package each .node file came from (lmdb also loads msgpackr-extract's).
        const names = loaded.map((p) => p.split('node_modules/').at(-1).split('/').slice(0, 2).join('/'));
        return `${what}: ${names.map((n) => n.replace(/^@[^/]+\//, '')).join(' + ') || '?'}`;
      }),
    ],
  ];
  console.log('');
  printTable(rows, { textColumns: 1 });

  const joins = selected
    .filter((e) => ok(e).length)
    .map((e) => `${e} ${fmt(first(e).state.joined)} / ${fmt(first(e).state.joinBytes)} B`);
  const distinct = new Set(selected.filter((e) => ok(e).length).map((e) => first(e).state.joinBytes));
  const s = selected.map((e) => first(e)?.state).find(Boolean);
  if (s) {
    console.log(
      `\njoin results (rows / bytes, run 1): ${joins.join(', ')} — ${distinct.size === 1 ? 'equal' : 'DIFFERENT'} ` +
        `across engines; ${fmt(s.scans)} index scans returned ${fmt(s.scanned / s.scans, 1)} keys on average`,
    );
  }
  if (selected.includes('sqlite-bg') && ok('sqlite-bg').length > 0) {
    const pages = Math.max(...ok('sqlite-bg').map((r) => r.walPages));
    console.log(
      `sqlite-bg: the WAL held at most ${fmt(pages)} pages (${fmt((pages * 4096) / 2 ** 20)} MiB); the writer ran ` +
        `${fmt(median(ok('sqlite-bg').map((r) => r.walRestarts)))} RESTART checkpoints (median per run)`,
    );
  }
  if (opts.runs > 1) {
    console.log('runs (events/s | without CPU queueing | commit p99 ms), spread = (max − min) / median:');
    const spread = (xs) => `${fmt(((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100, 0)} %`;
    for (const e of selected) {
      const rs = ok(e);
      if (rs.length === 0) continue;
      console.log(
        `  ${e.padEnd(10)} ${rs.map((r) => `${fmt(eventsPerS(r))} | ${fmt(ownEventsPerS(r))} | ${fmt(r.commitP99, 1)}`).join('   ')}` +
          `   (spread ${spread(rs.map(eventsPerS))} | ${spread(rs.map(ownEventsPerS))})`,
      );
    }
  }
  for (const [e, i] of Object.entries(installs)) {
    if (i.error) console.log(`${e}: ${i.error}`);
    else if (i.installS !== undefined)
      console.log(`${e}: installed in ${fmt(i.installS, 1)} s (npm's cache may have had the tarballs)`);
  }
  for (const e of selected)
    for (const r of results[e].filter((r) => r.error)) console.log(`${e} failed: ${r.error.slice(0, 800)}`);

  // The pick: the fastest store that survived every kill; an npm addon only if it beats the faster node:sqlite
  // variant by the margin.
  const candidates = selected.filter((e) => persistent(e) && crashOk(e));
  if (candidates.length === 0) {
    console.log('\npick: none (no store ran and survived every kill)');
    return;
  }
  // Compared without CPU queueing: on a shared machine the wall-clock rate moves with the neighbours' load.
  const speed = (e) => med(e, ownEventsPerS);
  const fastestOf = (list) => list.reduce((a, b) => (speed(b) > speed(a) ? b : a));
  const fastest = fastestOf(candidates);
  const sqlites = candidates.filter((e) => ENGINES[e].sqlite);
  const sqlite = sqlites.length > 0 ? fastestOf(sqlites) : null;
  let pick = fastest;
  let why;
  if (ENGINES[fastest].sqlite) why = 'the fastest here, and built into Node';
  else if (sqlite && speed(fastest) < NATIVE_MARGIN * speed(sqlite)) {
    pick = sqlite;
    why =
      `${ENGINES[fastest].label} has ${fmt(speed(fastest) / speed(sqlite), 2)}× its events/s (without CPU ` +
      `queueing), less than the ` +
      `${NATIVE_MARGIN}× a native npm addon has to earn; node:sqlite needs nothing installed or built`;
  } else {
    why = sqlite
      ? `${fmt(speed(fastest) / speed(sqlite), 2)}× the events/s (without CPU queueing) of ` +
        `${ENGINES[sqlite].label}, above the ` +
        `${NATIVE_MARGIN}× margin a native npm addon has to earn`
      : 'the fastest of those that ran (node:sqlite was not measured)';
  }
  console.log(
    `\npick: ${ENGINES[pick].label} — ${why} (commit p99 ${fmt(
      med(pick, (r) => r.commitP99),
      1,
    )} ms, ` +
      `${fmt(
        med(pick, (r) => r.commitOwnP99),
        1,
      )} without CPU queueing, ` +
      `reopen after kill -9 ${fmt(
        med(pick, (r) => median(r.restarts.map((c) => c.restartMs))),
        0,
      )} ms)`,
  );
  if (pick === 'sqlite-off') {
    const safe = ['sqlite-bg', 'sqlite'].filter((e) => candidates.includes(e));
    console.log(
      'note: synchronous=OFF, like LMDB with noSync, survives a killed process (checked above) but not necessarily ' +
        'an OS crash or power loss: the file may then be corrupt and has to be rebuilt from the changelog' +
        (safe.length
          ? `; synchronous=NORMAL survives both: ${safe
              .map(
                (e) =>
                  `${ENGINES[e].label} ${fmt(speed(e))} events/s without CPU queueing (${fmt(speed(e) / speed(pick), 2)}×), ` +
                  `commit p99 ${fmt(
                    med(e, (r) => r.commitOwnP99),
                    1,
                  )} ms`,
              )
              .join('; ')}`
          : ''),
    );
  }

  function pair(engine, a, b, digits = 1) {
    if (installs[engine]?.error) return 'not installed';
    if (ok(engine).length === 0) return 'failed';
    return `${fmt(
      med(engine, (r) => r[a]),
      digits,
    )} / ${fmt(
      med(engine, (r) => r[b]),
      digits,
    )}`;
  }
}

// Last, so that every constant above is initialised before a child uses it.
if (values.child) {
  try {
    await runChild(values.child, values.engine, values.store);
  } catch (error) {
    console.error(`${values.engine} (${values.child}): ${error?.stack ?? error}`);
    process.exit(1);
  }
} else {
  await runParent();
}
