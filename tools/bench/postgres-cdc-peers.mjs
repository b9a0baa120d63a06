// The peers of our Postgres CDC connector's benchmark, on the Postgres and Kafka of tools/services:
//   - Debezium's Postgres connector (3.6.1.Final, plugin pgoutput) run in-process by a small Java launcher
//     (tools/bench/java/DebeziumKafkaBench.java) on Debezium's embedded engine, its change events sent to Kafka
//     by a KafkaProducer (acks=all, idempotent) as JSON from Kafka's JsonConverter with schemas disabled (Avro
//     needs Confluent's converter and a schema registry, neither of which is on Maven Central).
//   - pg_recvlogical (PostgreSQL 15) with pgoutput into /dev/null: the server's raw decode ceiling, no sink.
// Exported: the runners (runDebezium, runPgRecvlogical) and the helpers our own connector's runner reuses
// (createBenchTable, runLoad, latencyFromTopic, processStats, …). The benchmark that runs them beside ours is
// tools/bench/postgres-cdc.mjs.
//
// Why the embedded engine and not Debezium Server: Debezium Server is a Quarkus application around this same
// embedded engine, and its Kafka sink (KafkaChangeConsumer) does per batch what the launcher does: send every
// record, wait for every ack, mark each processed, finish the batch. Its distribution is on Maven Central
// (io.debezium:debezium-server-dist:3.6.1.Final:tar.gz) but weighs 780 MB (every sink's dependencies) and is no
// jar set resolveJars handles; the engine, the connector and the Kafka client (69 jars, ~40 MB) come through
// resolveJars like every other JVM here, and the launcher lets the benchmark count acks and time them in the
// process that makes them. What differs from Debezium Server: no Quarkus runtime (no CDI,
// no health endpoint), and the sink loop is the launcher's own; offsets go to a FileOffsetBackingStore as there.
import { fmt } from './lib/report.mjs';
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(join(root, 'package.json'));

export const DEBEZIUM_VERSION = '3.6.1.Final';
const SLF4J_VERSION = '1.7.36'; // the slf4j-api Debezium 3.6.1 and its Kafka clients resolve to
export const PG_RECVLOGICAL = '/usr/lib/postgresql/15/bin/pg_recvlogical';
const LAUNCHER_SOURCE = join(here, 'java', 'DebeziumKafkaBench.java');
/** Heap of the Debezium JVM: Kafka Connect's scripts start at -Xms256m; 1 GiB is ample for its 8192-record queue. */
export const DEBEZIUM_HEAP = ['-Xms256m', '-Xmx1g'];

export const DEFAULTS = {
  rows: 1_000_000, // initial snapshot rows; also the backlog's changes unless `backlog` is given
  seconds: 20, // sustained streaming and latency phases
  rate: 2000, // changes/s of the latency phase
  backlog: undefined, // changes pre-written for the backlog phases (default: rows)
  streamRows: 100_000, // rows a streaming table starts with (the rows its UPDATEs pick from)
  warmupRows: 100_000, // rows of the unmeasured warm-up snapshot (Debezium)
  warmupChanges: 100_000, // unmeasured changes at full speed before Debezium's streaming windows
  warmupSeconds: 3, // then unmeasured load at the latency phase's rate (Debezium)
  workers: 2, // connections of the load generator at full speed
  txChanges: 500, // changes per transaction at full speed
  updateShare: 0.2, // share of UPDATEs among the changes (the rest INSERTs)
  partitions: 1, // partitions of the Debezium topic (Kafka Connect's default topic creation makes 1)
  debeziumProps: {}, // engine/connector properties added to (or overriding) the defaults below
  jvmArgs: [], // more JVM flags for Debezium's JVM (after the heap flags)
  keepLogs: undefined, // a folder to copy Debezium's JVM log into, one file per phase
  debeziumPhases: ['snapshot', 'streaming', 'backlog', 'latency'],
  pgRecvlogicalPhases: ['streaming', 'backlog'],
  log: (line) => console.log(line),
};

// ---------------------------------------------------------------------------------------------------------------
// Helpers (exported for our connector's runner).

/** A connected `pg` client for `pg` ({host, port, user, password, database}). */
export async function connectPg(pg, extra = {}) {
  const { Client } = require('pg');
  const client = new Client({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    database: pg.database,
    ...extra,
  });
  await client.connect();
  return client;
}

/** The SQL expression of the commit-time column: the wall clock in µs since the epoch when the row is written. */
export const COMMIT_US_SQL = `(extract(epoch from clock_timestamp()) * 1000000)::bigint`;

/**
 * Creates (dropping a previous one) the table `public.<name>` with `rows` rows, written in one INSERT … SELECT
 * generate_series. Columns: id bigint PK (a sequence continues after the initial rows), account int,
 * amount numeric(12,2), status text, note text (64 chars), updated_at timestamptz, commit_us bigint — the writer's
 * clock_timestamp() in µs, set by every INSERT and UPDATE of runLoad (0 for the initial rows), from which
 * latencyFromTopic computes commit-to-broker latency. Grants SELECT to `grantTo` (e.g. the replication role).
 */
export async function createBenchTable(pg, name, rows, { grantTo } = {}) {
  const client = await connectPg(pg);
  try {
    await client.query(`DROP TABLE IF EXISTS public.${name}`);
    await client.query(`CREATE TABLE public.${name} (
      id bigserial PRIMARY KEY,
      account integer NOT NULL,
      amount numeric(12,2) NOT NULL,
      status text NOT NULL,
      note text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      commit_us bigint NOT NULL DEFAULT ${COMMIT_US_SQL}
    )`);
    if (rows > 0) {
      await client.query(
        `INSERT INTO public.${name} (id, account, amount, status, note, updated_at, commit_us)
         SELECT g, g % 10000, (g % 100000) / 100.0, (ARRAY['new','paid','shipped','closed'])[1 + g % 4],
                md5(g::text) || md5((g + 1)::text), now(), 0
         FROM generate_series(1, $1::bigint) g`,
        [rows],
      );
    }
    await client.query(`SELECT setval(pg_get_serial_sequence('public.${name}', 'id'), $1, $2)`, [
      Math.max(rows, 1),
      rows > 0,
    ]);
    await client.query(`ANALYZE public.${name}`);
    if (grantTo) await client.query(`GRANT SELECT ON public.${name} TO ${grantTo}`);
  } finally {
    await client.end();
  }
}

/** Drops tables, publications and replication slots (terminating a walsender still holding a slot). */
export async function dropPgObjects(pg, { tables = [], publications = [], slots = [] }) {
  const client = await connectPg(pg);
  const errors = [];
  try {
    for (const slot of slots) {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query(
            `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
             WHERE slot_name = $1 AND active_pid IS NOT NULL`,
            [slot],
          );
          await client.query(
            `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`,
            [slot],
          );
          break;
        } catch (error) {
          // "replication slot … is active for PID …" until the terminated walsender is gone
          if (attempt >= 25) {
            errors.push(`slot ${slot}: ${error.message}`);
            break;
          }
          await sleep(200);
        }
      }
    }
    for (const pub of publications) await client.query(`DROP PUBLICATION IF EXISTS ${pub}`);
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS public.${table}`);
  } finally {
    await client.end();
  }
  if (errors.length > 0) throw new Error(`could not drop ${errors.join('; ')}`);
}

/**
 * Writes changes into `public.<table>` (made by createBenchTable) and returns what it wrote.
 * Each transaction is one statement (a CTE): an INSERT … SELECT generate_series of new rows and an UPDATE of
 * existing ones (ids 1..idRange, `updateShare` of the changes), both setting commit_us to clock_timestamp() —
 * written during the statement, a fraction of a millisecond before its commit (auto-commit, one statement).
 *   rate > 0:  one connection paced at `rate` changes/s: every 5 ms one transaction with the changes due.
 *   rate 0:    `workers` connections as fast as they can, `txChanges` changes per transaction (updates of each
 *              worker on its own ids, so they never wait on each other's row locks).
 * Stops after `seconds` or after `changes` changes, whichever comes first. Counts are the rows the statements
 * reported (an UPDATE can hit fewer rows than asked if it drew one id twice).
 * Returns {changes, inserts, updates, transactions, seconds, startUs, endUs, rate}.
 */
export async function runLoad(
  pg,
  table,
  {
    rate = 0,
    seconds = Infinity,
    changes = Infinity,
    workers = DEFAULTS.workers,
    txChanges = DEFAULTS.txChanges,
    updateShare = DEFAULTS.updateShare,
    idRange = DEFAULTS.streamRows,
    progress, // (text) => void, called about every 5 s
    label = 'load',
  } = {},
) {
  if (!Number.isFinite(seconds) && !Number.isFinite(changes))
    throw new Error('runLoad needs seconds or changes');
  const paced = rate > 0;
  const nWorkers = paced ? 1 : workers;
  const sql = `WITH ins AS (
      INSERT INTO public.${table} (account, amount, status, note)
      SELECT (random() * 10000)::int, round((random() * 1000)::numeric, 2), 'new',
             md5(random()::text) || md5(random()::text)
      FROM generate_series(1, $1::int)
      RETURNING 1
    ), upd AS (
      UPDATE public.${table} SET amount = amount + 1, status = 'paid', updated_at = now(),
             commit_us = ${COMMIT_US_SQL}
      WHERE id = ANY($2::bigint[])
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins)::int AS i, (SELECT count(*) FROM upd)::int AS u`;
  const clients = await Promise.all(Array.from({ length: nWorkers }, () => connectPg(pg)));
  const totals = { changes: 0, inserts: 0, updates: 0, transactions: 0 };
  let claimed = 0; // changes handed out to transactions (≤ `changes`)
  const startUs = nowUs();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let lastProgress = started;
  const report = () => {
    const now = performance.now();
    if (progress && now - lastProgress >= 5000) {
      lastProgress = now;
      const s = (now - started) / 1000;
      progress(
        `${label}: ${fmt(totals.changes)} changes in ${fmt(s, 1)} s (${fmt(totals.changes / s)} changes/s)`,
      );
    }
  };
  const pickIds = (n, worker) => {
    const ids = [];
    const slots = Math.max(1, Math.floor(idRange / nWorkers));
    for (let i = 0; i < n; i++) ids.push(1 + worker + nWorkers * Math.floor(Math.random() * slots));
    return ids.sort((a, b) => a - b);
  };
  const transaction = async (client, n, worker) => {
    const u = Math.min(n, Math.floor(n * updateShare + Math.random()));
    const { rows } = await client.query(sql, [n - u, pickIds(u, worker)]);
    totals.inserts += rows[0].i;
    totals.updates += rows[0].u;
    totals.changes += rows[0].i + rows[0].u;
    totals.transactions++;
  };
  try {
    if (paced) {
      const [client] = clients;
      while (performance.now() < deadline && claimed < changes) {
        const due = Math.min(
          Math.floor(((performance.now() - started) / 1000) * rate) - claimed,
          changes - claimed,
          5000,
        );
        if (due > 0) {
          claimed += due;
          await transaction(client, due, 0);
          report();
        }
        await sleep(5);
      }
    } else {
      await Promise.all(
        clients.map(async (client, worker) => {
          while (performance.now() < deadline && claimed < changes) {
            const n = Math.min(txChanges, changes - claimed);
            claimed += n;
            await transaction(client, n, worker);
            report();
          }
        }),
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
  const endUs = nowUs();
  const s = (endUs - startUs) / 1e6;
  return { ...totals, seconds: s, startUs, endUs, rate: totals.changes / s };
}

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`, normally 100). */
export function clockTicks() {
  clockTicks.value ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return clockTicks.value;
}

/**
 * CPU and memory of a live process from /proc: cpuSeconds = utime + stime of all its threads (/proc/<pid>/stat,
 * in clock ticks), rssBytes (VmRSS) and peakRssBytes (VmHWM, the high-water mark since start or since
 * resetPeakRss) from /proc/<pid>/status. Null if the process is gone.
 */
export function processStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based over the whole line).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = clockTicks();
    const userSeconds = Number(f[11]) / ticks;
    const systemSeconds = Number(f[12]) / ticks;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return {
      pid,
      cpuSeconds: userSeconds + systemSeconds,
      userSeconds,
      systemSeconds,
      rssBytes: kb('VmRSS'),
      peakRssBytes: kb('VmHWM'),
    };
  } catch {
    return null;
  }
}

/** Resets a process's VmHWM to its current RSS (writes 5 to /proc/<pid>/clear_refs; needs to own it or root). */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts measuring a connector process over a window: its peak RSS is reset now, and the returned function
 * answers its CPU seconds since, its peak RSS, and the CPU seconds of the walsender decoding for it (NaN when
 * there is none).
 */
export function measureWindow(pid, walsender) {
  resetPeakRss(pid);
  const before = processStats(pid);
  const wsBefore = walsender ? processStats(walsender) : null;
  return () => {
    const after = processStats(pid);
    const wsAfter = walsender ? processStats(walsender) : null;
    return {
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      walsenderCpuSeconds: wsBefore && wsAfter ? wsAfter.cpuSeconds - wsBefore.cpuSeconds : NaN,
      peakRssBytes: after.peakRssBytes,
    };
  };
}

/** The latency phase's figures (and its log line) from the load, the latencies read back and the window's usage. */
export function latencyFigures(w, load, latency, usage) {
  w.log(
    `  latency: p50 ${fmt(latency.p50, 1)} ms, p99 ${fmt(latency.p99, 1)} ms over ${fmt(latency.count)} events`,
  );
  return {
    latency: { targetRate: w.rate, changes: load.changes, writeRate: load.rate, ...latency, ...usage },
  };
}

/** Wall clock in µs since the epoch (the same clock as Postgres's clock_timestamp() and Kafka's LogAppendTime). */
export function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export function kafkaAdmin(brokers) {
  const { Kafka, logLevel } = require('kafkajs');
  return new Kafka({ clientId: 'datamesh-bench-cdc-peers', brokers, logLevel: logLevel.NOTHING }).admin();
}

/** Creates a topic whose records carry the broker's append time (message.timestamp.type=LogAppendTime). */
export async function createLogAppendTimeTopic(brokers, topic, { partitions = 1 } = {}) {
  const admin = kafkaAdmin(brokers);
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
        },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Deletes topics (those that exist) and consumer groups; never throws. */
export async function deleteKafkaObjects(brokers, { topics = [], groups = [] }) {
  const admin = kafkaAdmin(brokers);
  try {
    await admin.connect();
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
    const existing = new Set(await admin.listTopics());
    const doomed = topics.filter((t) => existing.has(t));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed }).catch(() => {});
  } catch {
    // best effort
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** decode() for Debezium's JSON change events (schemas enabled or not): after.commit_us, null for others. */
export function debeziumJsonCommitMicros(value) {
  if (!value || value.length === 0) return null;
  const event = JSON.parse(value.toString('utf8'));
  const after = (event.payload ?? event).after;
  return after?.commit_us === undefined || after?.commit_us === null ? null : Number(after.commit_us);
}

/**
 * decode() for records in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body):
 * `typeForId(id)` returns the avsc Type of that writer schema (e.g. from the registry, cached); `pick(record)`
 * the commit time in µs (default: record.after.commit_us, else record.commit_us).
 */
export function confluentAvroCommitMicros(
  typeForId,
  pick = (r) => r?.after?.commit_us ?? r?.commit_us ?? null,
) {
  return (value) => {
    if (!value || value.length < 5 || value[0] !== 0) return null;
    const type = typeForId(value.readInt32BE(1));
    const micros = pick(type.fromBuffer(value.subarray(5)));
    return micros === null || micros === undefined ? null : Number(micros);
  };
}

/**
 * Commit-to-broker latency of the records of `topic`: broker append time (the topic must have
 * message.timestamp.type=LogAppendTime; checked) minus the commit time `decode(value)` returns in µs since the
 * epoch (null/undefined: the record is skipped). Records whose commit time is before `sinceUs` or after `untilUs`
 * are left out (a warm-up). Reads every partition from the beginning to the end offsets it finds at the start,
 * with a throw-away consumer group (deleted afterwards). Latencies go into a histogram of 0.1 ms buckets up to
 * 120 s (memory stays bounded); the broker's time has 1 ms resolution.
 * Returns {count, skipped, p50, p90, p99, p999, max, mean} in ms.
 */
export async function latencyFromTopic(
  brokers,
  topic,
  { decode = debeziumJsonCommitMicros, sinceUs = 0, untilUs = Infinity, timeoutMs = 120_000 } = {},
) {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({ clientId: 'datamesh-bench-latency', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const group = `datamesh-bench-latency-${process.pid}-${Date.now().toString(36)}`;
  const BUCKET_US = 100;
  const histogram = new Uint32Array(1_200_000 + 1); // 0.1 ms buckets to 120 s, the last one is "more"
  let count = 0;
  let skipped = 0;
  let negative = 0;
  let sumUs = 0;
  let maxUs = -Infinity;
  const consumer = kafka.consumer({ groupId: group, maxBytes: 16 << 20 });
  try {
    const [resource] = (
      await admin.describeConfigs({
        resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['message.timestamp.type'] }],
        includeSynonyms: false,
      })
    ).resources;
    const tsType = resource.configEntries.find((e) => e.configName === 'message.timestamp.type')?.configValue;
    if (tsType !== 'LogAppendTime') {
      throw new Error(`topic ${topic} has message.timestamp.type=${tsType}, not LogAppendTime`);
    }
    const offsets = await admin.fetchTopicOffsets(topic);
    const ends = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
    const pending = new Set(offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => p.partition));
    if (pending.size > 0) {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      let done;
      const finished = new Promise((r) => (done = r));
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            if (BigInt(m.offset) >= ends.get(batch.partition)) break;
            const commitUs = decode(m.value);
            if (commitUs === null || commitUs === undefined || commitUs < sinceUs || commitUs > untilUs) {
              skipped++;
              continue;
            }
            const latencyUs = Number(m.timestamp) * 1000 - commitUs;
            if (latencyUs < 0) negative++;
            const bucket = Math.min(histogram.length - 1, Math.max(0, Math.floor(latencyUs / BUCKET_US)));
            histogram[bucket]++;
            count++;
            sumUs += latencyUs;
            if (latencyUs > maxUs) maxUs = latencyUs;
          }
          if (BigInt(batch.lastOffset()) + 1n >= ends.get(batch.partition)) pending.delete(batch.partition);
          if (pending.size === 0) done();
        },
      });
      const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
      const outcome = await finished;
      clearTimeout(timer);
      if (outcome instanceof Error) throw new Error(`reading ${topic} did not finish in ${timeoutMs} ms`);
    }
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([group]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
  const quantile = (q) => {
    if (count === 0) return NaN;
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i];
      if (seen >= rank) return ((i + 0.5) * BUCKET_US) / 1000;
    }
    return NaN;
  };
  return {
    count,
    skipped,
    negative,
    p50: quantile(0.5),
    p90: quantile(0.9),
    p99: quantile(0.99),
    p999: quantile(0.999),
    max: count > 0 ? maxUs / 1000 : NaN,
    mean: count > 0 ? sumUs / count / 1000 : NaN,
  };
}

/** Replication progress of a slot: its walsender's sent_lsn and the slot's confirmed_flush_lsn, as bytes behind `lsn`. */
export async function slotProgress(client, slot, lsn) {
  const { rows } = await client.query(
    `SELECT s.active_pid AS pid,
            pg_wal_lsn_diff($2::pg_lsn, r.sent_lsn)::float8 AS sent_behind,
            pg_wal_lsn_diff($2::pg_lsn, s.confirmed_flush_lsn)::float8 AS flush_behind
     FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
     WHERE s.slot_name = $1`,
    [slot, lsn],
  );
  return rows[0] ?? null;
}

export async function walFlushLsn(client) {
  return (await client.query('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0].lsn;
}

/** Waits until `slot` exists and a walsender holds it; returns that walsender's pid. */
export async function waitSlotActive(client, slot, timeoutMs, isAlive = () => true) {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const { rows } = await client.query(
      'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active',
      [slot],
    );
    if (rows[0]?.active_pid) return rows[0].active_pid;
    if (!isAlive()) throw new Error(`the process that should stream from slot ${slot} exited`);
    await sleep(100);
  }
  throw new Error(`replication slot ${slot} was not active within ${timeoutMs / 1000} s`);
}

export function withDefaults(workload = {}) {
  const w = { ...DEFAULTS };
  for (const [k, v] of Object.entries(workload)) if (v !== undefined) w[k] = v;
  w.backlog ??= w.rows;
  return w;
}

export function replicationLogin(pg) {
  return { ...pg, user: pg.replication?.user ?? pg.user, password: pg.replication?.password ?? pg.password };
}

// Cleanups registered while a runner works, run in reverse on success, failure and SIGINT (the CLI's).
export const pendingCleanups = new Set();
export async function withCleanups(body) {
  const stack = [];
  const cleanup = async () => {
    while (stack.length > 0) {
      const [what, fn] = stack.pop();
      try {
        await fn();
      } catch (error) {
        console.error(`cleanup (${what}) failed: ${error.message}`);
      }
    }
  };
  pendingCleanups.add(cleanup);
  try {
    return await body((what, fn) => stack.push([what, fn]));
  } finally {
    await cleanup();
    pendingCleanups.delete(cleanup);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Debezium.

/** Resolves Debezium's jars into .cache/services/bench/debezium-<version> and compiles the launcher. */
export async function prepareDebezium() {
  const { resolveJars, compileLauncher, javaBinary } = await import('../services/lib/maven.mjs');
  const { cacheDir } = await import('../services/lib/paths.mjs');
  const dbz = (artifactId) => ({ groupId: 'io.debezium', artifactId, version: DEBEZIUM_VERSION });
  const lib = resolveJars('bench', {
    folder: `debezium-${DEBEZIUM_VERSION}`,
    dependencies: [
      dbz('debezium-api'),
      dbz('debezium-embedded'),
      dbz('debezium-connector-postgres'),
      { groupId: 'org.slf4j', artifactId: 'slf4j-simple', version: SLF4J_VERSION },
    ],
  });
  const java = javaBinary();
  const classes = join(cacheDir('bench'), 'debezium-launcher');
  compileLauncher('bench', { source: LAUNCHER_SOURCE, lib, classes, release: 17, java });
  return { java, classpath: `${classes}:${lib}/*` };
}

// The launcher's JVM: commands on stdin, JSON events on stdout ("@@dbz {…}"), logs into a file.
class DebeziumJvm {
  static async start({ java, classpath, brokers, work, log, jvmArgs = [] }) {
    const producerFile = join(work, 'producer.properties');
    writeFileSync(
      producerFile,
      propertiesText({
        'bootstrap.servers': brokers.join(','),
        'client.id': 'datamesh-bench-debezium',
        acks: 'all',
        'enable.idempotence': 'true',
        'compression.type': 'none',
      }),
    );
    const logFile = join(work, 'debezium.log');
    const args = [
      ...DEBEZIUM_HEAP,
      ...jvmArgs,
      '-XX:+UseG1GC',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-Dorg.slf4j.simpleLogger.log.io.debezium=info',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
      '-cp',
      classpath,
      'DebeziumKafkaBench',
      producerFile,
    ];
    // setpriv --pdeathsig: the JVM is killed if this process dies without stopping it (it also exits when its
    // stdin closes).
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', java, ...args], {
      cwd: work,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const jvm = new DebeziumJvm(child, logFile, log);
    await jvm.next((e) => e.type === 'ready', 60_000, 'the launcher to start');
    return jvm;
  }

  constructor(child, logFile, log) {
    this.child = child;
    this.pid = child.pid;
    this.logFile = logFile;
    this.log = log;
    this.counters = null; // the last progress/stopped counters
    this.waiters = new Set();
    this.exited = null;
    child.stdin.on('error', () => {}); // EPIPE after the JVM died: reported through 'exit'
    const logStream = createWriteStream(logFile);
    child.stderr.pipe(logStream);
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('@@dbz ')) {
          logStream.write(`[stdout] ${line}\n`);
          continue;
        }
        const event = JSON.parse(line.slice('@@dbz '.length));
        if ('acked' in event) this.counters = event;
        for (const w of this.waiters) w(event);
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = signal ?? `exit ${code}`;
      for (const w of this.waiters) w({ type: 'process-exit' });
    });
  }

  send(command) {
    this.child.stdin.write(`${command}\n`);
  }

  /** Resolves with the first event matching `match`; rejects on timeout, a failed engine or the JVM's exit. */
  next(match, timeoutMs, what) {
    return new Promise((resolvePromise, reject) => {
      const finish = (fn, value) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        fn(value);
      };
      const waiter = (event) => {
        try {
          if (match(event)) return finish(resolvePromise, event);
        } catch (error) {
          return finish(reject, error);
        }
        if (event.type === 'process-exit') {
          return finish(
            reject,
            new Error(`the Debezium JVM exited (${this.exited}) while waiting for ${what}${this.logTail()}`),
          );
        }
        if (event.type === 'completed' && !event.success) {
          return finish(reject, new Error(`Debezium's engine failed: ${event.message}${this.logTail()}`));
        }
        if (event.sendError) {
          return finish(reject, new Error(`Kafka send failed: ${event.sendError}${this.logTail()}`));
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            reject,
            new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${this.logTail()}`),
          ),
        timeoutMs,
      );
      this.waiters.add(waiter);
      if (this.exited) waiter({ type: 'process-exit' });
    });
  }

  /**
   * Waits until `target` records were acked since the last start/reset, printing progress every 5 s; fails if no
   * ack arrives for `stallMs`. Returns the counters of the progress event that reached it.
   */
  async waitAcked(target, { label, stallMs = 60_000, startedAt = performance.now() }) {
    let lastAcked = -1;
    let lastChange = performance.now();
    let lastPrint = performance.now();
    const reached = await this.next(
      (e) => {
        if (!('acked' in e)) return false;
        const now = performance.now();
        if (e.acked !== lastAcked) {
          lastAcked = e.acked;
          lastChange = now;
        }
        if (now - lastPrint >= 5000) {
          lastPrint = now;
          const s = (now - startedAt) / 1000;
          this.log(`  ${label}: ${fmt(e.acked)} / ${fmt(target)} acked by Kafka after ${fmt(s, 1)} s`);
        }
        if (e.acked >= target) return true;
        if (now - lastChange > stallMs) {
          throw new Error(
            `${label}: stalled at ${fmt(e.acked)} of ${fmt(target)} acks for ${stallMs / 1000} s`,
          );
        }
        return false;
      },
      // Only for a JVM that stopped reporting altogether (the stall check needs its progress events): 2 min plus
      // 1 ms per record, far longer than any run at the rates seen here.
      120_000 + target,
      `${fmt(target)} acks (${label})`,
    );
    return reached;
  }

  /** Starts an engine with `props`; resolves when its task polls. */
  async startEngine(props, work, name) {
    const file = join(work, `${name}.properties`);
    writeFileSync(file, propertiesText(props));
    const startUs = nowUs();
    this.send(`start ${file}`);
    await this.next((e) => e.type === 'polling', 120_000, `the engine (${name}) to start polling`);
    return startUs;
  }

  async stopEngine() {
    this.send('stop');
    return this.next((e) => e.type === 'stopped', 90_000, 'the engine to stop');
  }

  async reset() {
    this.send('reset');
    return this.next((e) => e.type === 'reset', 10_000, 'the counters to reset');
  }

  async quit() {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    try {
      this.send('quit');
    } catch {
      // stdin already closed
    }
    const killed = await Promise.race([gone.then(() => false), sleep(30_000).then(() => true)]);
    if (killed) {
      this.child.kill('SIGKILL');
      await gone;
    }
  }

  logTail(lines = 25) {
    try {
      const text = readFileSync(this.logFile, 'utf8').trimEnd().split('\n');
      const interesting = text.filter((l) => /ERROR|WARN|Exception|Caused by/.test(l));
      const tail = (interesting.length > 0 ? interesting : text).slice(-lines);
      const what = interesting.length > 0 ? 'warnings/errors' : 'lines';
      return `\n  Debezium's log, last ${tail.length} ${what} (--keep-logs DIR keeps the whole log):\n    ${tail.join('\n    ')}`;
    } catch {
      return '';
    }
  }
}

function propertiesText(props) {
  const esc = (s) => String(s).replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${esc(v)}`)
    .join('\n')}\n`;
}

function engineProps({ pg, name, table, slot, publication, snapshotMode, offsetsFile }) {
  const login = replicationLogin(pg);
  return {
    name: `bench-${name}`,
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'offset.storage': 'org.apache.kafka.connect.storage.FileOffsetBackingStore',
    'offset.storage.file.filename': offsetsFile,
    'offset.flush.interval.ms': '10000',
    'database.hostname': pg.host,
    'database.port': String(pg.port),
    'database.user': login.user,
    'database.password': login.password,
    'database.dbname': pg.database,
    'topic.prefix': name,
    'plugin.name': 'pgoutput',
    'slot.name': slot,
    'publication.name': publication,
    'publication.autocreate.mode': 'disabled',
    'table.include.list': `public.${table}`,
    'snapshot.mode': snapshotMode,
    // Kafka's JsonConverter for keys and values, without the schema envelope.
    'converter.schemas.enable': 'false',
  };
}

/**
 * Debezium's Postgres connector on the embedded engine, its events sent to Kafka (acks=all) by the launcher.
 * `pg`: {host, port, user, password, database, replication?: {user, password}} — the first login sets up tables
 * and publications, `replication` (default: the same) is the connector's. `table`: a prefix; phase P uses
 * `<table>_dbz_<P>` (table, `_pub`, `_slot`, topic `<name>.public.<name>`). `workload`: any of DEFAULTS' keys
 * (rows, seconds, rate, backlog, warmupRows, warmupChanges, warmupSeconds, workers, txChanges, updateShare,
 * partitions, debeziumProps, jvmArgs, keepLogs, debeziumPhases, log). Each phase has its own table,
 * publication, slot, topic and JVM (backlog runs in the streaming phase's JVM, on a table and slot of its own).
 * Every object is dropped afterwards. Returns {peer, snapshot?, streaming?, backlog?, latency?} of figures.
 */
export async function runDebezium({ pg, brokers, table, workload }) {
  const w = withDefaults(workload);
  const log = w.log;
  const runtime = await prepareDebezium();
  const results = { peer: `Debezium ${DEBEZIUM_VERSION} (embedded engine, pgoutput, JSON without schemas)` };
  for (const phase of w.debeziumPhases) {
    if (phase === 'backlog') continue; // run inside the streaming phase
    log(`Debezium: ${phase}`);
    const figures = await withCleanups((onCleanup) =>
      debeziumPhase({ phase, pg, brokers, table, w, runtime, onCleanup }),
    );
    Object.assign(results, figures);
  }
  return results;
}

async function debeziumPhase({ phase, pg, brokers, table, w, runtime, onCleanup }) {
  const log = w.log;
  const work = mkdtempSync(join(tmpdir(), `datamesh-bench-debezium-${phase}-`));
  onCleanup('temp dir', () => {
    // The JVM's log, kept when asked (workload.keepLogs: a folder).
    if (w.keepLogs && existsSync(join(work, 'debezium.log'))) {
      mkdirSync(w.keepLogs, { recursive: true });
      copyFileSync(join(work, 'debezium.log'), join(w.keepLogs, `debezium-${phase}.log`));
    }
    rmSync(work, { recursive: true, force: true });
  });
  const grantTo = replicationLogin(pg).user;
  // A table with its publication, slot name and topic; dropped at the end of the phase.
  const setup = async (suffix, rows) => {
    const name = `${table}_dbz_${suffix}`;
    const o = {
      name,
      table: name,
      publication: `${name}_pub`,
      slot: `${name}_slot`,
      topic: `${name}.public.${name}`,
      offsetsFile: join(work, `${name}.offsets`),
    };
    onCleanup(`postgres objects of ${name}`, () =>
      dropPgObjects(pg, { tables: [o.table], publications: [o.publication], slots: [o.slot] }),
    );
    onCleanup(`topic ${o.topic}`, () => deleteKafkaObjects(brokers, { topics: [o.topic] }));
    await createBenchTable(pg, o.table, rows, { grantTo });
    const client = await connectPg(pg);
    try {
      await client.query(`CREATE PUBLICATION ${o.publication} FOR TABLE public.${o.table}`);
    } finally {
      await client.end();
    }
    await createLogAppendTimeTopic(brokers, o.topic, { partitions: w.partitions });
    return o;
  };
  const props = (o, snapshotMode) => ({ ...engineProps({ pg, ...o, snapshotMode }), ...w.debeziumProps });

  if (phase === 'snapshot') {
    const warmRows = Math.min(w.warmupRows, w.rows);
    log(`  creating ${fmt(w.rows)} rows (+ ${fmt(warmRows)} for the warm-up)…`);
    const warm = await setup('snapwarm', warmRows);
    const main = await setup('snap', w.rows);
    const jvm = await DebeziumJvm.start({ ...runtime, brokers, work, log, jvmArgs: w.jvmArgs });
    onCleanup('Debezium JVM', () => jvm.quit());
    // Warm-up: a smaller snapshot through the same code paths (JIT, class loading, connections), unmeasured.
    const warmStart = performance.now();
    await jvm.startEngine(props(warm, 'initial'), work, warm.name);
    await jvm.waitAcked(warmRows, { label: 'warm-up snapshot', startedAt: warmStart });
    await jvm.stopEngine();
    log(`  warm-up: ${fmt(warmRows)} rows in ${fmt((performance.now() - warmStart) / 1000, 1)} s`);
    await dropPgObjects(pg, { slots: [warm.slot] });
    await sleep(1000); // let the JVM settle (GC, compiler threads) before the measured window
    resetPeakRss(jvm.pid);
    const before = processStats(jvm.pid);
    const t0 = performance.now();
    const startUs = await jvm.startEngine(props(main, 'initial'), work, main.name);
    const done = await jvm.waitAcked(w.rows, { label: 'snapshot', startedAt: t0 });
    const after = processStats(jvm.pid);
    await sleep(1000);
    const extra = jvm.counters.acked - w.rows;
    await jvm.stopEngine();
    const seconds = (done.lastAckUs - startUs) / 1e6;
    log(`  snapshot: ${fmt(w.rows)} rows in ${fmt(seconds, 2)} s`);
    return {
      snapshot: {
        rows: w.rows,
        seconds,
        rowsPerSec: w.rows / seconds,
        firstToLastAckRowsPerSec: w.rows / ((done.lastAckUs - done.firstAckUs) / 1e6),
        secondsToFirstAck: (done.firstAckUs - startUs) / 1e6,
        cpuSeconds: after.cpuSeconds - before.cpuSeconds,
        peakRssBytes: after.peakRssBytes,
        extraRecords: extra,
        counting: 'producer acks in the launcher',
      },
    };
  }

  if (phase === 'streaming') {
    const main = await setup('stream', w.streamRows);
    const backlogTable = w.debeziumPhases.includes('backlog') ? await setup('backlog', w.streamRows) : null;
    const jvm = await DebeziumJvm.start({ ...runtime, brokers, work, log, jvmArgs: w.jvmArgs });
    onCleanup('Debezium JVM', () => jvm.quit());
    await jvm.startEngine(props(main, 'no_data'), work, main.name);
    const client = await connectPg(pg);
    onCleanup('pg client', () => client.end());
    await waitSlotActive(client, main.slot, 60_000);
    const loadOpts = {
      workers: w.workers,
      txChanges: w.txChanges,
      updateShare: w.updateShare,
      idRange: w.streamRows,
    };
    await warmUpStreaming({ jvm, pg, table: main.table, w });
    await sleep(500);
    const walsender = (await slotProgress(client, main.slot, '0/0'))?.pid;
    const usage = measureWindow(jvm.pid, walsender);
    const load = await runLoad(pg, main.table, {
      ...loadOpts,
      seconds: w.seconds,
      progress: (t) => log(`  ${t}; ${fmt(jvm.counters?.acked ?? 0)} delivered`),
      label: 'sustained load',
    });
    const ackedAtLoadEnd = jvm.counters?.acked ?? 0;
    const done = await jvm.waitAcked(load.changes, { label: 'sustained streaming', stallMs: 60_000 });
    const used = usage();
    await sleep(1000);
    const extra = jvm.counters.acked - load.changes;
    const deliverySeconds = (done.lastAckUs - done.firstAckUs) / 1e6;
    const figures = {
      streaming: {
        changes: load.changes,
        writeSeconds: load.seconds,
        writeRate: load.rate,
        eventsPerSec: load.changes / deliverySeconds,
        deliverySeconds,
        behindAtLoadEnd: load.changes - ackedAtLoadEnd,
        catchUpSeconds: (done.lastAckUs - load.endUs) / 1e6,
        ...used,
        extraRecords: extra,
      },
    };
    log(
      `  sustained: ${fmt(load.changes)} changes written at ${fmt(load.rate)}/s, delivered at ${fmt(figures.streaming.eventsPerSec)}/s`,
    );
    await jvm.stopEngine();
    await dropPgObjects(pg, { slots: [main.slot] });
    if (backlogTable)
      figures.backlog = await debeziumBacklog({ jvm, client, o: backlogTable, props, w, pg, work });
    return figures;
  }

  if (phase === 'latency') {
    const main = await setup('latency', w.streamRows);
    const jvm = await DebeziumJvm.start({ ...runtime, brokers, work, log, jvmArgs: w.jvmArgs });
    onCleanup('Debezium JVM', () => jvm.quit());
    await jvm.startEngine(props(main, 'no_data'), work, main.name);
    const client = await connectPg(pg);
    onCleanup('pg client', () => client.end());
    await waitSlotActive(client, main.slot, 60_000);
    const loadOpts = { rate: w.rate, updateShare: w.updateShare, idRange: w.streamRows };
    await warmUpStreaming({ jvm, pg, table: main.table, w, rate: w.rate });
    const walsender = (await slotProgress(client, main.slot, '0/0'))?.pid;
    const usage = measureWindow(jvm.pid, walsender);
    const load = await runLoad(pg, main.table, {
      ...loadOpts,
      seconds: w.seconds,
      progress: (t) => log(`  ${t}; ${fmt(jvm.counters?.acked ?? 0)} delivered`),
      label: `load at ${fmt(w.rate)}/s`,
    });
    await jvm.waitAcked(load.changes, { label: 'latency phase' });
    const used = usage();
    await jvm.stopEngine();
    const latency = await latencyFromTopic(brokers, main.topic, {
      decode: debeziumJsonCommitMicros,
      sinceUs: load.startUs,
    });
    return latencyFigures(w, load, latency, used);
  }
  throw new Error(`unknown Debezium phase ${phase}`);
}

// Unmeasured warm-up of a streaming engine: `warmupChanges` changes at full speed (JIT compilation of the
// streaming path, buffers and connections grown), then `warmupSeconds` at `rate` if given (the phase's own pace),
// each delivered entirely before the counters are reset for the measured window.
async function warmUpStreaming({ jvm, pg, table, w, rate }) {
  const common = { updateShare: w.updateShare, idRange: w.streamRows };
  const started = performance.now();
  let total = 0;
  if (w.warmupChanges > 0) {
    const full = await runLoad(pg, table, {
      ...common,
      workers: w.workers,
      txChanges: w.txChanges,
      changes: w.warmupChanges,
    });
    total += full.changes;
    await jvm.waitAcked(total, { label: 'warm-up', startedAt: started });
  }
  if (rate > 0 && w.warmupSeconds > 0) {
    const paced = await runLoad(pg, table, { ...common, rate, seconds: w.warmupSeconds });
    total += paced.changes;
    await jvm.waitAcked(total, { label: 'warm-up', startedAt: started });
  }
  w.log(`  warm-up: ${fmt(total)} changes delivered in ${fmt((performance.now() - started) / 1000, 1)} s`);
  await jvm.reset();
}

// A backlog of changes written while the connector is stopped (its slot exists), then drained by a restarted
// engine in the already warm JVM.
async function debeziumBacklog({ jvm, client, o, props, w, pg, work }) {
  const log = w.log;
  log('Debezium: backlog');
  // First start creates the slot (no_data: nothing to snapshot); the engine then stops, the slot stays.
  await jvm.startEngine(props(o, 'no_data'), work, o.name);
  await waitSlotActive(client, o.slot, 60_000);
  await jvm.stopEngine();
  log(`  writing a backlog of ${fmt(w.backlog)} changes with the connector stopped…`);
  const load = await runLoad(pg, o.table, {
    changes: w.backlog,
    workers: w.workers,
    txChanges: w.txChanges,
    updateShare: w.updateShare,
    idRange: w.streamRows,
    progress: (t) => log(`  ${t}`),
    label: 'backlog',
  });
  await sleep(1000);
  resetPeakRss(jvm.pid);
  const before = processStats(jvm.pid);
  const t0 = performance.now();
  const startUs = await jvm.startEngine(props(o, 'no_data'), work, `${o.name}-restart`);
  const walsender = await waitSlotActive(client, o.slot, 60_000);
  const done = await jvm.waitAcked(load.changes, { label: 'backlog', startedAt: t0 });
  const after = processStats(jvm.pid);
  const ws = processStats(walsender);
  await sleep(1000);
  const extra = jvm.counters.acked - load.changes;
  await jvm.stopEngine();
  const seconds = (done.lastAckUs - startUs) / 1e6;
  log(`  backlog: ${fmt(load.changes)} changes delivered in ${fmt(seconds, 2)} s after the restart`);
  return {
    changes: load.changes,
    seconds,
    eventsPerSec: load.changes / seconds,
    firstToLastAckEventsPerSec: load.changes / ((done.lastAckUs - done.firstAckUs) / 1e6),
    secondsToFirstAck: (done.firstAckUs - startUs) / 1e6,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    walsenderCpuSeconds: ws?.cpuSeconds ?? NaN,
    peakRssBytes: after.peakRssBytes,
    extraRecords: extra,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// pg_recvlogical.

/**
 * pg_recvlogical --start -P pgoutput -o proto_version=1 -o publication_names=<pub> -f /dev/null on a slot of its
 * own, (1) while the load generator writes at full speed for `seconds`, (2) over a backlog of `backlog` changes
 * written before it starts. Progress is the walsender's sent_lsn (pg_stat_replication; it advances as the server
 * decodes and sends) against the WAL flush position at the end of the writes, polled every 50 ms; the slot's
 * confirmed_flush_lsn (pg_recvlogical's feedback, sent every second with -s 1 -F 0) is reported beside it.
 * CPU: the pg_recvlogical process and the walsender backend that decodes for it. Names: `<table>_prl_<phase>`.
 * Returns {peer, streaming?, backlog?}.
 */
export async function runPgRecvlogical({ pg, table, workload }) {
  const w = withDefaults(workload);
  const log = w.log;
  if (!existsSync(PG_RECVLOGICAL)) throw new Error(`${PG_RECVLOGICAL} not found (Debian postgresql-15)`);
  const results = { peer: 'pg_recvlogical (PostgreSQL 15, pgoutput proto 1, into /dev/null)' };
  for (const phase of w.pgRecvlogicalPhases) {
    log(`pg_recvlogical: ${phase}`);
    results[phase] = await withCleanups((onCleanup) =>
      pgRecvlogicalPhase({ phase, pg, table, w, onCleanup }),
    );
  }
  return results;
}

function spawnPgRecvlogical(pg, slot, publication) {
  const login = replicationLogin(pg);
  const args = [
    '--pdeathsig',
    'TERM',
    '--',
    PG_RECVLOGICAL,
    '-d',
    `host=${pg.host} port=${pg.port} dbname=${pg.database} user=${login.user}`,
    '--slot',
    slot,
    '--start',
    '-P',
    'pgoutput',
    '-o',
    'proto_version=1',
    '-o',
    `publication_names=${publication}`,
    '-f',
    '/dev/null',
    '-F',
    '0', // no fsync of /dev/null; feedback reports what was written
    '-s',
    '1', // feedback every second (default 10 s): confirmed_flush_lsn follows within a second
    '--no-loop',
  ];
  const child = spawn('setpriv', args, {
    env: { ...process.env, PGPASSWORD: login.password },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const proc = { child, pid: child.pid, exited: null, stderr: () => stderr.trim() };
  child.on('exit', (code, signal) => (proc.exited = signal ?? `exit ${code}`));
  proc.stop = async () => {
    if (proc.exited) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    if (await Promise.race([gone.then(() => false), sleep(10_000).then(() => true)])) {
      child.kill('SIGKILL');
      await gone;
    }
  };
  return proc;
}

// Polls the slot until its walsender has sent everything up to `lsn`; returns when sent and when confirmed.
async function waitDecoded(client, slot, lsn, { label, log, proc, startedAt, totalBytes }) {
  let sentAt = null;
  let lastPrint = performance.now();
  let lastBehind = Infinity;
  let lastMove = performance.now();
  for (;;) {
    const p = await slotProgress(client, slot, lsn);
    const now = performance.now();
    if (p && p.sent_behind !== null && p.sent_behind <= 0 && sentAt === null) sentAt = now;
    if (p && p.flush_behind !== null && p.flush_behind <= 0 && sentAt !== null)
      return { sentAt, confirmedAt: now };
    if (sentAt !== null && now - sentAt > 15_000) return { sentAt, confirmedAt: NaN };
    const behind = p?.sent_behind ?? Infinity;
    if (behind < lastBehind) {
      lastBehind = behind;
      lastMove = now;
    } else if (now - lastMove > 60_000) {
      throw new Error(`${label}: decoding stalled ${fmt(behind)} bytes short of ${lsn}: ${proc.stderr()}`);
    }
    if (proc.exited) throw new Error(`pg_recvlogical exited (${proc.exited}): ${proc.stderr()}`);
    if (now - lastPrint >= 5000) {
      lastPrint = now;
      const share = totalBytes
        ? ` (${fmt(100 * (1 - Math.max(0, behind) / totalBytes), 1)} % of the WAL)`
        : '';
      log(
        `  ${label}: ${fmt(Math.max(0, behind) / 1e6, 1)} MB of WAL to go${share} after ${fmt((now - startedAt) / 1000, 1)} s`,
      );
    }
    await sleep(50);
  }
}

async function pgRecvlogicalPhase({ phase, pg, table, w, onCleanup }) {
  const log = w.log;
  const name = `${table}_prl_${phase}`;
  const publication = `${name}_pub`;
  const slot = `${name}_slot`;
  onCleanup(`postgres objects of ${name}`, () =>
    dropPgObjects(pg, { tables: [name], publications: [publication], slots: [slot] }),
  );
  await createBenchTable(pg, name, w.streamRows, { grantTo: replicationLogin(pg).user });
  const client = await connectPg(pg);
  onCleanup('pg client', () => client.end());
  await client.query(`CREATE PUBLICATION ${publication} FOR TABLE public.${name}`);
  const startLsn = (
    await client.query(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [slot])
  ).rows[0].lsn;
  const loadOpts = {
    workers: w.workers,
    txChanges: w.txChanges,
    updateShare: w.updateShare,
    idRange: w.streamRows,
  };

  if (phase === 'streaming') {
    const proc = spawnPgRecvlogical(pg, slot, publication);
    onCleanup('pg_recvlogical', () => proc.stop());
    const walsender = await waitSlotActive(client, slot, 30_000, () => !proc.exited);
    const before = processStats(proc.pid);
    const wsBefore = processStats(walsender);
    const load = await runLoad(pg, name, {
      ...loadOpts,
      seconds: w.seconds,
      progress: (t) => log(`  ${t}`),
      label: 'sustained load',
    });
    const endLsn = await walFlushLsn(client);
    const behindAtLoadEnd = (await slotProgress(client, slot, endLsn))?.sent_behind ?? NaN;
    const { sentAt, confirmedAt } = await waitDecoded(client, slot, endLsn, {
      label: 'sustained',
      log,
      proc,
      startedAt: performance.now(),
    });
    const after = processStats(proc.pid);
    const wsAfter = processStats(walsender);
    // runLoad's wall-clock µs → the performance.now() clock of sentAt / confirmedAt
    const loadEnd = load.endUs / 1000 - performance.timeOrigin;
    const loadStart = load.startUs / 1000 - performance.timeOrigin;
    const seconds = (sentAt - loadStart) / 1000;
    log(
      `  sustained: ${fmt(load.changes)} changes written at ${fmt(load.rate)}/s, decoded at ${fmt(load.changes / seconds)}/s`,
    );
    return {
      changes: load.changes,
      writeRate: load.rate,
      changesPerSec: load.changes / seconds,
      walBytesBehindAtLoadEnd: behindAtLoadEnd,
      catchUpSeconds: Math.max(0, (sentAt - loadEnd) / 1000),
      confirmedCatchUpSeconds: (confirmedAt - loadEnd) / 1000,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      walsenderCpuSeconds: wsAfter.cpuSeconds - wsBefore.cpuSeconds,
      peakRssBytes: after.peakRssBytes,
    };
  }

  if (phase === 'backlog') {
    log(`  writing a backlog of ${fmt(w.backlog)} changes before pg_recvlogical starts…`);
    const load = await runLoad(pg, name, {
      ...loadOpts,
      changes: w.backlog,
      progress: (t) => log(`  ${t}`),
      label: 'backlog',
    });
    const endLsn = await walFlushLsn(client);
    const walBytes = Number(
      (await client.query('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8 AS b', [endLsn, startLsn]))
        .rows[0].b,
    );
    await sleep(1000);
    const t0 = performance.now();
    const proc = spawnPgRecvlogical(pg, slot, publication);
    onCleanup('pg_recvlogical', () => proc.stop());
    const walsender = await waitSlotActive(client, slot, 30_000, () => !proc.exited);
    const { sentAt, confirmedAt } = await waitDecoded(client, slot, endLsn, {
      label: 'backlog',
      log,
      proc,
      startedAt: t0,
      totalBytes: walBytes,
    });
    const stats = processStats(proc.pid);
    const ws = processStats(walsender);
    const seconds = (sentAt - t0) / 1000;
    log(
      `  backlog: ${fmt(load.changes)} changes (${fmt(walBytes / 1e6, 1)} MB of WAL) decoded in ${fmt(seconds, 2)} s`,
    );
    return {
      changes: load.changes,
      walBytes,
      seconds,
      changesPerSec: load.changes / seconds,
      walMBPerSec: walBytes / 1e6 / seconds,
      confirmedSeconds: (confirmedAt - t0) / 1000,
      cpuSeconds: stats.cpuSeconds,
      walsenderCpuSeconds: ws.cpuSeconds,
      peakRssBytes: stats.peakRssBytes,
    };
  }
  throw new Error(`unknown pg_recvlogical phase ${phase}`);
}
