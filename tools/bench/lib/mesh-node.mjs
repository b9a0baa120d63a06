// The real `mesh node start` as a child process, for the benchmarks that measure a sink end to end
// (sink-elasticsearch, sink-kafka): pipeline and node files written into a work folder, progress read from the
// node's /metrics, CPU and peak RSS from /proc while it runs. And step 1 of those benchmarks: a node with only
// the datagen source filling a topic with N events, stopped once they are written.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { kafkaAdmin, processStats } from '../postgres-cdc-peers.mjs';
import { fmt } from './report.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const MESH = join(root, 'packages/cli/bin/run.js');

/** Stops a benchmark early with a message for the user (exit 1), instead of a stack trace. */
export class BenchSetupError extends Error {}

/**
 * Throws a BenchSetupError naming what to build when a package the node must load has no dist (the CLI
 * discovers workspace plugins from their dist and only warns about the rest).
 */
export function requireBuilt(packages, benchmark) {
  const missing = packages.filter((p) => !existsSync(join(root, `packages/${p}/dist/index.js`)));
  if (missing.length > 0) {
    throw new BenchSetupError(
      `not built: ${missing.map((p) => `@datamesh/${p}`).join(', ')}; run \`node tools/bench/run.mjs ${benchmark}\` ` +
        `(it builds them) or npx nx run-many -t build --projects=${missing.join(',')}`,
    );
  }
}

/** Throws a BenchSetupError when the Kafka brokers do not answer. */
export async function checkKafka(brokers, startHint) {
  const admin = kafkaAdmin(brokers);
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (error) {
    throw new BenchSetupError(`Kafka (${brokers.join(',')}) does not answer: ${error.message}\n${startHint}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Counter and gauge values of a Prometheus text exposition: `name` → [{ labels, value }]. */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, line.indexOf(' '));
    const labels = {};
    if (brace >= 0 && brace < space) {
      for (const m of line.slice(brace + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        labels[m[1]] = m[2];
    }
    if (!out.has(name)) out.set(name, []);
    out.get(name).push({ labels, value: Number(line.slice(space + 1)) });
  }
  return out;
}

/** The sum of a metric's series whose labels pass `where` (all by default); 0 when it has none. */
export function metricSum(metrics, name, where = () => true) {
  return (metrics.get(name) ?? []).filter((s) => where(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** A `mesh node start` child process running one pipeline on the Kafka transport. */
export class MeshNode {
  /**
   * Writes `<work>/<pipeline.name>.json` and its node file, then starts the node and waits for its "node
   * started" line. `tasks` goes to the node's `tasks` settings; `nodeFlags` before the CLI's path (e.g.
   * --cpu-prof); `log` gets the node's error lines.
   */
  static async start({ work, pipeline, brokers, partitions, tasks = {}, nodeFlags = [], log, tag }) {
    const name = tag ?? pipeline.name;
    const pipelineFile = join(work, `${name}.json`);
    writeFileSync(pipelineFile, JSON.stringify(pipeline, null, 2));
    const config = join(work, `${name}-node.json`);
    writeFileSync(
      config,
      JSON.stringify(
        {
          apiVersion: 'datamesh/v1',
          kind: 'Node',
          dataDir: join(work, `${name}-data`),
          http: { host: '127.0.0.1', port: 0 },
          transport: { kind: 'kafka', partitions, kafka: { brokers } },
          tasks,
          pipelines: [pipelineFile],
        },
        null,
        2,
      ),
    );
    const startedAt = performance.now();
    const child = spawn(process.execPath, [...nodeFlags, MESH, 'node', 'start', '--config', config], {
      cwd: root,
      env: {
        ...process.env,
        ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new MeshNode(child, startedAt, log);
    await node.started();
    return node;
  }

  constructor(child, startedAt, log = () => {}) {
    this.child = child;
    this.startedAt = startedAt;
    this.stderr = '';
    this.url = undefined;
    this.startedLineAt = undefined; // performance.now() of its "node started" line
    this.warnings = [];
    this.exited = new Promise((resolveExit) =>
      child.on('exit', (code, signal) => resolveExit(code ?? signal)),
    );
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // not a log line
        }
        if (entry.msg === 'node started') {
          this.url = entry.url;
          this.startedLineAt = performance.now();
        } else if (entry.level === 'warn' || entry.level === 40) this.warnings.push(entry.msg);
        if (entry.level === 'error' || entry.level === 'fatal' || entry.level >= 50)
          log(`  node: ${entry.msg} ${entry.err?.message ?? ''}`);
      }
    });
    // The CLI warns on stderr about workspace plugins it refuses (e.g. one not built): kept for failures.
    child.stderr.on('data', (chunk) => (this.stderr += chunk.toString('utf8')));
  }

  get pid() {
    return this.child.pid;
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async started(timeoutMs = 60_000) {
    const until = performance.now() + timeoutMs;
    while (!this.url) {
      if (!this.running) throw new Error(`mesh node exited before starting:\n${this.stderr.slice(-3000)}`);
      if (performance.now() > until) throw new Error(`mesh node did not start in ${timeoutMs / 1000} s`);
      await sleep(20);
    }
  }

  /** The node's /metrics, parsed (see parseMetrics). */
  async metrics() {
    try {
      return parseMetrics(await (await fetch(`${this.url}/metrics`)).text());
    } catch (error) {
      await Promise.race([this.exited, sleep(1000)]);
      if (!this.running) throw new Error(`mesh node exited:\n${this.stderr.slice(-3000)}`);
      throw error;
    }
  }

  /** CPU seconds (user + system, all threads) since the process started, and its peak RSS (VmHWM). */
  usage() {
    const s = processStats(this.pid);
    if (!s) throw new Error('mesh node exited before its usage was read');
    return { cpuSeconds: s.cpuSeconds, peakRssBytes: s.peakRssBytes };
  }

  /**
   * Polls the node's metrics (every 20 ms near the first and the last event) until the stage's `datamesh_events_out_total` (a sink: written and
   * flushed) reaches `count`. Answers the performance.now() times of the first event the stage received and
   * of the moment the count was reached. Fails when the stage dead-letters an event or nothing moves for
   * `stallMs`.
   */
  async waitStage(stage, count, { label = stage, log = () => {}, stallMs = 60_000 } = {}) {
    let firstInAt;
    let last = -1;
    let lastProgressAt = performance.now();
    let lastReport = performance.now();
    for (;;) {
      const m = await this.metrics();
      const sum = (name) =>
        (m.get(name) ?? []).filter((s) => s.labels.stage === stage).reduce((a, s) => a + s.value, 0);
      const now = performance.now();
      const received = sum('datamesh_events_in_total');
      const out = sum('datamesh_events_out_total');
      if (received > 0) firstInAt ??= now;
      if (out >= count) return { firstInAt: firstInAt ?? now, doneAt: now, out, received };
      const dead = sum('datamesh_dead_letters_total');
      if (dead > 0) throw new Error(`${label}: ${fmt(dead)} events went to the dead-letter topic`);
      if (received + out !== last) {
        last = received + out;
        lastProgressAt = now;
      }
      if (now - lastProgressAt > stallMs)
        throw new Error(
          `${label}: no progress for ${stallMs / 1000} s at ${fmt(out)} of ${fmt(count)} ` +
            `(errors ${fmt(sum('datamesh_errors_total'))}, restarts ${fmt(sum('datamesh_task_restarts_total'))}); ` +
            `node warnings: ${this.warnings.slice(-3).join(' | ') || 'none'}`,
        );
      if (now - lastReport > 5000) {
        lastReport = now;
        log(`  ${label}: ${fmt(out)} of ${fmt(count)} flushed`);
      }
      // Often while the first event and the last are awaited, seldom in between: each scrape costs the node
      // CPU (prom-client renders every series; at 20 ms throughout it took ~5 % of a sink's CPU).
      await sleep(received === 0 || out >= count * 0.95 ? 20 : 250);
    }
  }

  /** SIGTERM (the node drains and exits), SIGKILL after 30 s. */
  async stop() {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The datagen source stage of the benchmarks: `limit` changes as fast as possible, keys spread over 2^32 ids
 * so that nearly every change creates a new order (a handful update or delete one: `expectedRows` says which
 * remain), no tombstones (so events = changes).
 */
export function datagenStage(name, { events, batchSize, seed = 42 }) {
  return {
    name,
    plugin: 'datagen',
    config: { rate: 0, limit: events, batchSize, keys: 2 ** 32, seed, tombstones: false },
  };
}

/** The rows the datagen stage leaves (id → row at its last version), replayed with its own generator. */
export async function expectedRows(stage) {
  const { OrderGenerator } = await import(join(root, 'packages/connector-datagen/dist/index.js'));
  const { seed, keys, limit } = stage.config;
  const generator = new OrderGenerator({ seed, keys, deleteRatio: 0.1 });
  const rows = new Map();
  const changes = { c: 0, u: 0, d: 0 };
  for (let i = 0; i < limit; i++) {
    const change = generator.next();
    changes[change.op]++;
    if (change.op === 'd') rows.delete(change.key.id);
    else rows.set(change.key.id, change.after);
  }
  return { rows, changes };
}

/**
 * Step 1: a node with only the datagen source writes its `limit` events to `<stage>.orders`, then stops.
 * Answers the topic and how long it took.
 */
export async function fillWithDatagen({ work, pipeline, brokers, partitions, log }) {
  const source = pipeline.sources[0];
  const events = source.config.limit;
  const started = performance.now();
  const node = await MeshNode.start({
    work,
    pipeline: { ...pipeline, sinks: [] },
    brokers,
    partitions,
    log,
    tag: `${pipeline.name}-fill`,
  });
  try {
    await node.waitStage(source.name, events, { label: 'datagen', log });
  } finally {
    await node.stop();
  }
  const topic = `${source.name}.orders`;
  const admin = kafkaAdmin(brokers);
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    // Each source batch is one Kafka transaction: the end offsets also count one commit marker per partition
    // and batch, so they are at least the events.
    const high = offsets.reduce((a, p) => a + Number(p.high), 0);
    if (high < events) throw new Error(`${topic} holds ${high} offsets, fewer than the ${events} events`);
    return { topic, seconds: (performance.now() - started) / 1000, endOffsets: offsets };
  } finally {
    await admin.disconnect();
  }
}
