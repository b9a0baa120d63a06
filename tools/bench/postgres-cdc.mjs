// Postgres → Kafka change data capture: our connector (`mesh node start` with the postgres source on the Kafka
// transport, Avro in the Confluent wire format, acks=all, events and positions in one transaction per batch) beside
// Debezium's Postgres connector and the raw decode ceiling of pg_recvlogical, on the same Postgres and Kafka of
// tools/services. Phases, each with its own table, slot and topic: initial snapshot of N rows; sustained streaming
// under a full-speed writer; a backlog of N changes drained after a restart; commit-to-broker latency at a fixed
// rate. Prints every figure side by side with the ratio ours / Debezium's.
//   node tools/bench/postgres-cdc.mjs [--rows 1000000] [--seconds 20] [--rate 2000] [--only datamesh]
//   node tools/bench/postgres-cdc.mjs --help
import { fmt, printTable } from './lib/report.mjs';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  confluentAvroCommitMicros,
  connectPg,
  createBenchTable,
  createLogAppendTimeTopic,
  DEBEZIUM_VERSION,
  DEFAULTS,
  deleteKafkaObjects,
  dropPgObjects,
  kafkaAdmin,
  latencyFigures,
  latencyFromTopic,
  measureWindow,
  nowUs,
  pendingCleanups,
  processStats,
  resetPeakRss,
  runDebezium,
  runLoad,
  runPgRecvlogical,
  waitSlotActive,
  withCleanups,
  withDefaults,
} from './postgres-cdc-peers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(join(root, 'package.json'));
const MESH = join(root, 'packages/cli/bin/run.js');
const PEERS = ['datamesh', 'debezium', 'pg_recvlogical'];

// ---------------------------------------------------------------------------------------------------------------
// Our connector.

/** A `mesh node start` child process, with the count of events its source wrote (from its /metrics). */
class MeshNode {
  static async start({ work, name, pg, brokers, table, snapshot, log }) {
    const pipeline = join(work, `${name}.yaml`);
    writeFileSync(
      pipeline,
      JSON.stringify({
        apiVersion: 'datamesh/v1',
        kind: 'Pipeline',
        name,
        sources: [
          {
            name,
            plugin: 'postgres',
            config: {
              host: pg.host,
              port: pg.port,
              database: pg.database,
              user: pg.user,
              password: '${BENCH_PG_PASSWORD}',
              tables: [`public.${table}`],
              slot: `${table}_slot`,
              publication: `${table}_pub`,
              snapshot: { mode: snapshot ? 'initial' : 'never' },
            },
          },
        ],
      }),
    );
    const config = join(work, `${name}-node.yaml`);
    writeFileSync(
      config,
      JSON.stringify({
        apiVersion: 'datamesh/v1',
        kind: 'Node',
        dataDir: join(work, `${name}-data`),
        http: { host: '127.0.0.1', port: 0 },
        transport: { kind: 'kafka', partitions: 1, kafka: { brokers } },
        pipelines: [pipeline],
      }),
    );
    const child = spawn(process.execPath, [MESH, 'node', 'start', '--config', config], {
      env: {
        ...process.env,
        BENCH_PG_PASSWORD: pg.password,
        // e.g. BENCH_NODE_OPTIONS=--max-old-space-size=256 to bound the heap V8 otherwise grows lazily.
        ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new MeshNode(child, name, log);
    await node.started();
    return node;
  }

  constructor(child, stage, log) {
    this.child = child;
    this.stage = stage;
    this.stderr = '';
    this.url = undefined;
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const entry = JSON.parse(line);
          if (entry.msg === 'node started') this.url = entry.url;
          if (entry.level === 'error' || entry.level === 'fatal')
            log(`  node: ${entry.msg} ${entry.err?.message ?? ''}`);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr.on('data', (chunk) => (this.stderr += chunk.toString('utf8')));
  }

  get pid() {
    return this.child.pid;
  }

  async started(timeoutMs = 60_000) {
    const until = performance.now() + timeoutMs;
    while (!this.url) {
      if (this.child.exitCode !== null) throw new Error(`mesh node exited before starting:\n${this.stderr}`);
      if (performance.now() > until) throw new Error(`mesh node did not start in ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  }

  /** Events the source wrote to Kafka (counted after each transaction committed). */
  async written() {
    let text;
    try {
      text = await (await fetch(`${this.url}/metrics`)).text();
    } catch (error) {
      await Promise.race([this.exited, sleep(1000)]);
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(
          `mesh node exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.stderr.slice(-3000)}`,
        );
      throw error;
    }
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('datamesh_events_out_total{') && line.includes(`stage="${this.stage}"`))
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /**
   * Polls `written()` every 20 ms until it reaches `count`: the wall-clock µs of the first and of the last write,
   * relative to `base` (events written before the window). Fails after `stallMs` without progress.
   */
  async waitWritten(count, { base = 0, label, log, stallMs = 60_000 }) {
    let firstUs;
    let last = base;
    let lastProgressAt = performance.now();
    let lastReport = performance.now();
    for (;;) {
      const now = await this.written();
      if (now > base && firstUs === undefined) firstUs = nowUs();
      if (now !== last) {
        last = now;
        lastProgressAt = performance.now();
      }
      if (now - base >= count) return { firstUs: firstUs ?? nowUs(), lastUs: nowUs(), written: now - base };
      if (this.child.exitCode !== null) throw new Error(`mesh node exited during ${label}:\n${this.stderr}`);
      if (performance.now() - lastProgressAt > stallMs)
        throw new Error(
          `${label}: no progress for ${stallMs / 1000} s at ${fmt(now - base)} of ${fmt(count)}`,
        );
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        log(`  ${label}: ${fmt(now - base)} of ${fmt(count)} written`);
      }
      await sleep(20);
    }
  }

  async schemaType(topic) {
    const avro = require('avsc');
    const response = await fetch(`${this.url}/schema-registry/subjects/${topic}-value/versions/latest`);
    const { id, schema } = await response.json();
    return { id, type: avro.Type.forSchema(JSON.parse(schema), { wrapUnions: false }) };
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Our connector through the same phases as Debezium (runDebezium): snapshot, streaming (with its backlog) and
 * latency, one node process per phase, on tables `<table>_dm_<phase>`. Counts are the events the node's source
 * reports written (datamesh_events_out_total: after the Kafka transaction with them committed).
 */
export async function runDatamesh({ pg, brokers, table, workload }) {
  const w = withDefaults(workload);
  const log = w.log;
  const results = { peer: 'datamesh (postgres source, Kafka transport, Avro, acks=all, transactions)' };
  for (const phase of w.debeziumPhases) {
    if (phase === 'backlog') continue;
    log(`datamesh: ${phase}`);
    Object.assign(
      results,
      await withCleanups((onCleanup) => datameshPhase({ phase, pg, brokers, table, w, onCleanup })),
    );
  }
  return results;
}

async function datameshPhase({ phase, pg, brokers, table, w, onCleanup }) {
  const log = w.log;
  const work = mkdtempSync(join(tmpdir(), `datamesh-bench-pg-${phase}-`));
  onCleanup('temp dir', () => rmSync(work, { recursive: true, force: true }));
  const setup = async (suffix, rows) => {
    const name = `${table}_dm_${suffix}`;
    // Stage names are kebab-case; the topic is `<stage>.<schema>.<table>`.
    const stage = name.replaceAll('_', '-');
    const o = {
      name: stage,
      table: name,
      slot: `${name}_slot`,
      publication: `${name}_pub`,
      topic: `${stage}.public.${name}`,
    };
    onCleanup(`postgres objects of ${name}`, () =>
      dropPgObjects(pg, { tables: [o.table], publications: [o.publication], slots: [o.slot] }),
    );
    onCleanup(`topic ${o.topic}`, () => deleteKafkaObjects(brokers, { topics: [o.topic] }));
    await createBenchTable(pg, o.table, rows);
    await createLogAppendTimeTopic(brokers, o.topic, { partitions: 1 });
    return o;
  };
  const startNode = async (o, snapshot) => {
    const node = await MeshNode.start({ work, name: o.name, pg, brokers, table: o.table, snapshot, log });
    onCleanup(`node ${o.name}`, () => node.stop());
    return node;
  };

  if (phase === 'snapshot') {
    const main = await setup('snap', w.rows);
    log(`  ${fmt(w.rows)} rows created`);
    const t0 = nowUs();
    const node = await startNode(main, true);
    resetPeakRss(node.pid);
    const done = await node.waitWritten(w.rows, { label: 'snapshot', log });
    const after = processStats(node.pid);
    const seconds = (done.lastUs - t0) / 1e6;
    log(`  snapshot: ${fmt(w.rows)} rows in ${fmt(seconds, 2)} s`);
    await node.stop();
    return {
      snapshot: {
        rows: w.rows,
        seconds,
        rowsPerSec: w.rows / seconds,
        firstToLastAckRowsPerSec: w.rows / ((done.lastUs - done.firstUs) / 1e6),
        secondsToFirstAck: (done.firstUs - t0) / 1e6,
        cpuSeconds: after.cpuSeconds,
        peakRssBytes: after.peakRssBytes,
        counting: 'events the source wrote (node metrics), process start to the last; CPU includes start-up',
      },
    };
  }

  const client = await connectPg(pg);
  onCleanup('pg client', () => client.end());
  const loadOpts = {
    workers: w.workers,
    txChanges: w.txChanges,
    updateShare: w.updateShare,
    idRange: w.streamRows,
  };

  /** Unmeasured: `warmupChanges` at full speed, then `warmupSeconds` at `rate` when given, all written. */
  const warmUp = async (node, o, rate) => {
    let total = 0;
    if (w.warmupChanges > 0)
      total += (await runLoad(pg, o.table, { ...loadOpts, changes: w.warmupChanges })).changes;
    if (rate > 0 && w.warmupSeconds > 0)
      total += (await runLoad(pg, o.table, { ...loadOpts, rate, seconds: w.warmupSeconds })).changes;
    await node.waitWritten(total, { label: 'warm-up', log });
    log(`  warm-up: ${fmt(total)} changes written`);
    return total;
  };

  if (phase === 'streaming') {
    const main = await setup('stream', w.streamRows);
    const node = await startNode(main, false);
    const walsender = await waitSlotActive(client, main.slot, 60_000);
    const base = await warmUp(node, main, 0);
    await sleep(500);
    const usage = measureWindow(node.pid, walsender);
    const load = await runLoad(pg, main.table, {
      ...loadOpts,
      seconds: w.seconds,
      progress: (t) => log(`  ${t}`),
      label: 'sustained load',
    });
    const writtenAtLoadEnd = (await node.written()) - base;
    const done = await node.waitWritten(load.changes, { base, label: 'sustained streaming', log });
    const used = usage();
    await node.stop();
    const deliverySeconds = (done.lastUs - done.firstUs) / 1e6;
    const figures = {
      streaming: {
        changes: load.changes,
        writeSeconds: load.seconds,
        writeRate: load.rate,
        eventsPerSec: load.changes / deliverySeconds,
        deliverySeconds,
        behindAtLoadEnd: load.changes - writtenAtLoadEnd,
        catchUpSeconds: (done.lastUs - load.endUs) / 1e6,
        ...used,
      },
    };
    log(
      `  sustained: ${fmt(load.changes)} written at ${fmt(load.rate)}/s, delivered at ${fmt(figures.streaming.eventsPerSec)}/s`,
    );
    if (w.debeziumPhases.includes('backlog'))
      figures.backlog = await datameshBacklog({ setup, startNode, client, w, loadOpts });
    return figures;
  }

  if (phase === 'latency') {
    const main = await setup('latency', w.streamRows);
    const node = await startNode(main, false);
    const walsender = await waitSlotActive(client, main.slot, 60_000);
    const base = await warmUp(node, main, w.rate);
    const usage = measureWindow(node.pid, walsender);
    const load = await runLoad(pg, main.table, {
      rate: w.rate,
      seconds: w.seconds,
      updateShare: w.updateShare,
      idRange: w.streamRows,
      progress: (t) => log(`  ${t}`),
      label: `load at ${fmt(w.rate)}/s`,
    });
    await node.waitWritten(load.changes, { base, label: 'latency phase', log });
    const used = usage();
    const { id, type } = await node.schemaType(main.topic);
    await node.stop();
    const latency = await latencyFromTopic(brokers, main.topic, {
      decode: confluentAvroCommitMicros((schemaId) => {
        if (schemaId !== id) throw new Error(`record written with schema ${schemaId}, expected ${id}`);
        return type;
      }),
      sinceUs: load.startUs,
    });
    return latencyFigures(w, load, latency, used);
  }
  throw new Error(`unknown phase ${phase}`);
}

/** A backlog written while the node is stopped (its slot exists), then drained by a new node process. */
async function datameshBacklog({ setup, startNode, client, w, loadOpts }) {
  const log = w.log;
  log('datamesh: backlog');
  const o = await setup('backlog', w.streamRows);
  const first = await startNode(o, false);
  await waitSlotActive(client, o.slot, 60_000);
  await first.stop();
  log(`  writing a backlog of ${fmt(w.backlog)} changes with the node stopped…`);
  const load = await runLoad(w.pg, o.table, {
    ...loadOpts,
    changes: w.backlog,
    progress: (t) => log(`  ${t}`),
    label: 'backlog',
  });
  await sleep(1000);
  const t0 = nowUs();
  const node = await startNode(o, false);
  resetPeakRss(node.pid);
  const walsender = await waitSlotActive(client, o.slot, 60_000);
  const done = await node.waitWritten(load.changes, { label: 'backlog', log });
  const after = processStats(node.pid);
  const ws = processStats(walsender);
  await node.stop();
  const seconds = (done.lastUs - t0) / 1e6;
  log(`  backlog: ${fmt(load.changes)} changes delivered in ${fmt(seconds, 2)} s after the restart`);
  return {
    changes: load.changes,
    seconds,
    eventsPerSec: load.changes / seconds,
    firstToLastAckEventsPerSec: load.changes / ((done.lastUs - done.firstUs) / 1e6),
    secondsToFirstAck: (done.firstUs - t0) / 1e6,
    cpuSeconds: after.cpuSeconds,
    walsenderCpuSeconds: ws?.cpuSeconds ?? NaN,
    peakRssBytes: after.peakRssBytes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

const mb = (bytes) => fmt(bytes / 1e6);
const ratio = (ours, theirs) =>
  Number.isFinite(ours) && Number.isFinite(theirs) && theirs !== 0 ? `${fmt(ours / theirs, 2)}×` : 'n/a';

/** One table: each figure of each phase, ours beside Debezium's with the ratio, and pg_recvlogical's. */
function printComparison(results) {
  const d = results.datamesh ?? {};
  const z = results.debezium ?? {};
  const p = results.pg_recvlogical ?? {};
  const rows = [['phase', 'figure', 'datamesh', 'Debezium', 'ratio', 'pg_recvlogical']];
  const add = (phase, figure, ours, theirs, format = fmt, raw = '') =>
    rows.push([phase, figure, format(ours), format(theirs), ratio(ours, theirs), raw]);
  add('snapshot', 'rows/s (start → last write)', d.snapshot?.rowsPerSec, z.snapshot?.rowsPerSec);
  add(
    '',
    'rows/s (first → last write)',
    d.snapshot?.firstToLastAckRowsPerSec,
    z.snapshot?.firstToLastAckRowsPerSec,
  );
  add('', 's to the first write', d.snapshot?.secondsToFirstAck, z.snapshot?.secondsToFirstAck, (v) =>
    fmt(v, 2),
  );
  add('', 'CPU s', d.snapshot?.cpuSeconds, z.snapshot?.cpuSeconds, (v) => fmt(v, 2));
  add('', 'peak RSS MB', d.snapshot?.peakRssBytes, z.snapshot?.peakRssBytes, mb);
  add(
    'sustained',
    'events/s delivered',
    d.streaming?.eventsPerSec,
    z.streaming?.eventsPerSec,
    fmt,
    p.streaming ? `${fmt(p.streaming.changesPerSec)} decoded` : '',
  );
  add('', 'writer changes/s', d.streaming?.writeRate, z.streaming?.writeRate);
  add('', 'CPU s per 100k events', per100k(d.streaming), per100k(z.streaming), (v) => fmt(v, 2));
  add('', 'peak RSS MB', d.streaming?.peakRssBytes, z.streaming?.peakRssBytes, mb);
  add(
    'backlog',
    'events/s (restart → last write)',
    d.backlog?.eventsPerSec,
    z.backlog?.eventsPerSec,
    fmt,
    p.backlog ? `${fmt(p.backlog.changesPerSec)} decoded` : '',
  );
  add(
    '',
    'events/s (first → last write)',
    d.backlog?.firstToLastAckEventsPerSec,
    z.backlog?.firstToLastAckEventsPerSec,
  );
  add('', 's to the first write', d.backlog?.secondsToFirstAck, z.backlog?.secondsToFirstAck, (v) =>
    fmt(v, 2),
  );
  add('', 'CPU s per 100k events', per100k(d.backlog), per100k(z.backlog), (v) => fmt(v, 2));
  add('', 'peak RSS MB', d.backlog?.peakRssBytes, z.backlog?.peakRssBytes, mb);
  const rate = d.latency?.targetRate ?? z.latency?.targetRate;
  add(`latency @ ${fmt(rate)}/s`, 'p50 ms commit → broker', d.latency?.p50, z.latency?.p50, (v) => fmt(v, 1));
  add('', 'p99 ms', d.latency?.p99, z.latency?.p99, (v) => fmt(v, 1));
  add('', 'CPU s', d.latency?.cpuSeconds, z.latency?.cpuSeconds, (v) => fmt(v, 2));
  add('', 'peak RSS MB', d.latency?.peakRssBytes, z.latency?.peakRssBytes, mb);
  console.log('');
  printTable(rows, { textColumns: 2 });
  console.log(
    '\nratio = datamesh / Debezium (higher is better for rates; lower for latency, CPU and memory). datamesh: one ' +
      '`mesh node start` process per phase, Avro in the Confluent wire format, each batch one Kafka transaction ' +
      '(events + position), counted when the transaction committed. Debezium ' +
      `${DEBEZIUM_VERSION}: embedded engine, JSON without schemas, counted at the producer's acks; its default ` +
      'poll.interval.ms=500 sets its latency (add --debezium-prop poll.interval.ms=10 for the tuned figure).',
  );
}

function per100k(phase) {
  return phase ? (phase.cpuSeconds / phase.changes) * 1e5 : NaN;
}

// ---------------------------------------------------------------------------------------------------------------
// CLI.

const HELP = `Usage: node tools/bench/postgres-cdc.mjs [options]   (or: npm run bench -- postgres-cdc [options])

Postgres → Kafka CDC on the Postgres and Kafka of tools/services (node tools/services/cli.mjs up postgres kafka):
our postgres source in a mesh node, Debezium ${DEBEZIUM_VERSION}'s Postgres connector (embedded engine), and
pg_recvlogical into /dev/null, side by side. Needs the packages built (npm run build), Maven and a JDK.

Options:
  --rows N            rows of the initial snapshot (default ${fmt(DEFAULTS.rows)})
  --seconds S         length of the sustained and latency windows (default ${DEFAULTS.seconds})
  --rate R            changes/s of the latency phase (default ${fmt(DEFAULTS.rate)})
  --backlog N         changes of the backlog phases (default: --rows)
  --warmup-changes N  unmeasured changes at full speed before the streaming windows (default ${fmt(DEFAULTS.warmupChanges)})
  --warmup-seconds S  then unmeasured seconds at --rate before the latency window (default ${DEFAULTS.warmupSeconds})
  --workers N         load generator connections at full speed (default ${DEFAULTS.workers})
  --tx-changes N      changes per transaction at full speed (default ${DEFAULTS.txChanges})
  --debezium-prop K=V an engine/connector property for Debezium (repeatable), e.g. poll.interval.ms=10
  --only LIST         some of ${PEERS.join(',')} (default: all)
  --phases LIST       some of snapshot,streaming,backlog,latency (default: all)
  --table PREFIX      prefix of every table, slot, publication and topic (default bench_cdc)
  --help              this text
`;

async function main() {
  // kafkajs (admin, latency reader) trips Node's TimeoutNegativeWarning; it says nothing about what is measured.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name !== 'TimeoutNegativeWarning') console.warn(`${warning.name}: ${warning.message}`);
  });
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      backlog: { type: 'string' },
      'warmup-seconds': { type: 'string' },
      'warmup-changes': { type: 'string' },
      'debezium-prop': { type: 'string', multiple: true },
      workers: { type: 'string' },
      'tx-changes': { type: 'string' },
      only: { type: 'string' },
      phases: { type: 'string' },
      table: { type: 'string', default: 'bench_cdc' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const num = (flag, min = 1) => {
    if (values[flag] === undefined) return undefined;
    const n = Number(values[flag]);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}`);
    return n;
  };
  const workload = {
    rows: num('rows'),
    seconds: num('seconds'),
    rate: num('rate'),
    backlog: num('backlog'),
    warmupSeconds: num('warmup-seconds', 0),
    warmupChanges: num('warmup-changes', 0),
    debeziumProps: Object.fromEntries(
      (values['debezium-prop'] ?? []).map((kv) => [
        kv.slice(0, kv.indexOf('=')),
        kv.slice(kv.indexOf('=') + 1),
      ]),
    ),
    workers: num('workers'),
    txChanges: num('tx-changes'),
  };
  const phases = values.phases?.split(',').map((p) => p.trim());
  const allPhases = ['snapshot', 'streaming', 'backlog', 'latency'];
  if (phases?.some((p) => !allPhases.includes(p)))
    throw new UsageError(`--phases takes some of ${allPhases.join(',')}`);
  if (phases) {
    workload.debeziumPhases = phases;
    workload.pgRecvlogicalPhases = phases.filter((p) => DEFAULTS.pgRecvlogicalPhases.includes(p));
  }
  const peers = values.only ? values.only.split(',').map((p) => p.trim()) : PEERS;
  if (peers.some((p) => !PEERS.includes(p))) throw new UsageError(`--only takes some of ${PEERS.join(',')}`);
  if (!/^[a-z_][a-z0-9_]{0,24}$/.test(values.table))
    throw new UsageError('--table must be a lower-case SQL identifier of at most 25 characters');

  const { endpoint: postgres } = await import('../services/postgres.mjs');
  const { endpoint: kafka } = await import('../services/kafka.mjs');
  const pg = { ...postgres, replication: { user: 'cdc', password: 'cdc' } };
  const brokers = kafka.brokers;
  try {
    const client = await connectPg(pg, { connectionTimeoutMillis: 3000 });
    await client.end();
    const admin = kafkaAdmin(brokers);
    await admin.connect();
    await admin.disconnect();
  } catch (error) {
    console.error(`Postgres (${pg.host}:${pg.port}) or Kafka (${brokers}) does not answer: ${error.message}`);
    console.error('start them with: node tools/services/cli.mjs up postgres kafka');
    return 1;
  }
  const table = `${values.table}_${Date.now().toString(36)}`;
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    console.log('interrupted: cleaning up…');
    void Promise.all([...pendingCleanups].map((c) => c())).finally(() => process.exit(130));
  });
  const w = withDefaults(workload);
  console.log(
    `Postgres CDC: ${fmt(w.rows)} snapshot rows, ${w.seconds} s windows, latency at ${fmt(w.rate)} changes/s, backlog ` +
      `${fmt(w.backlog)} changes; writer: ${w.workers} connections × ${w.txChanges}-change transactions, ` +
      `${Math.round(w.updateShare * 100)} % UPDATEs`,
  );
  console.log(
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), load average ` +
      `${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; names ${table}_*`,
  );
  const results = {};
  let failed = 0;
  for (const peer of peers) {
    if (interrupted) break;
    const started = performance.now();
    try {
      const run = { datamesh: runDatamesh, debezium: runDebezium, pg_recvlogical: runPgRecvlogical }[peer];
      results[peer] = await run({ pg, brokers, table, workload: { ...workload, pg } });
      console.log(`${peer}: done in ${fmt((performance.now() - started) / 1000)} s`);
    } catch (error) {
      failed++;
      console.log(`${peer}: FAILED: ${error.stack ?? error}`);
    }
  }
  printComparison(results);
  if (interrupted) return 130;
  return failed > 0 ? 1 : 0;
}

class UsageError extends Error {}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof UsageError ? error.message : (error.stack ?? String(error)));
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
