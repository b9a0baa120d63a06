// Kafka → Kafka through our kafka sink (`mesh node start`, the real CLI): exactly once (records and input offsets
// in one transaction per flush) and at least once (idempotent producer, offsets after), beside Apache Kafka's
// ProducerPerformance (the class behind kafka-producer-perf-test.sh) writing the same number of records of the
// same average size, acks=all and idempotent, in transactions for the exactly-once comparison.
//   node tools/bench/sink-kafka.mjs [--events 200000] [--runs 3] [--partitions 4] [--batch-size 1000]
//        [--format avro] [--envelope envelope] [--flush-events 5000] [--flush-interval-ms 1000]
//        [--transaction-ms MS] [--brokers 127.0.0.1:59092] [--cpu-prof-dir DIR] [--help]
// Needs the Kafka of tools/services (node tools/services/cli.mjs up kafka), its jars and a java, and the packages
// built (node tools/bench/run.mjs sink-kafka builds them).
//
// Step 1 (once, unmeasured): a node with only the datagen source writes N order changes to a topic. Each run
// then measures, each in a process of its own (the order alternates between runs):
//   ours, exactly once / at least once: a node with the same pipeline plus the kafka sink (the source is at its
//     limit and adds nothing), from the node's spawn until the sink flushed all N events (its metrics); then the
//     output topic and the sink group's committed input offsets are checked.
//   Java, transactional / idempotent: ProducerPerformance --num-records N --record-size <the average key + value
//     bytes of our output records> --throughput -1, acks=all enable.idempotence=true (the transactional run with
//     --transactional-id and --transaction-duration-ms = the mean time between our commits in the first run),
//     into a fresh topic with as many partitions.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deleteKafkaObjects, kafkaAdmin } from './postgres-cdc-peers.mjs';
import {
  BenchSetupError,
  checkKafka,
  datagenStage,
  fillWithDatagen,
  MeshNode,
  metricSum,
  requireBuilt,
} from './lib/mesh-node.mjs';
import { quietLog4j } from './lib/java-tools.mjs';
import { fmt, printTable } from './lib/report.mjs';
import { figureRows, loadText, machineText } from './lib/run-figures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const START_HINT = 'start it with: node tools/services/cli.mjs up kafka';

const HELP = `Usage: node tools/bench/sink-kafka.mjs [options]   (or: node tools/bench/run.mjs sink-kafka [options])

Kafka → Kafka through the kafka sink in a mesh node (exactly once, and at least once), beside Kafka's
ProducerPerformance writing as many records of the same average size (transactional, and idempotent).
Needs the Kafka of tools/services (node tools/services/cli.mjs up kafka), its jars and a java.

Options:
  --events N             order changes from the datagen source, all written to the output (default 200000)
  --runs N               runs of each side; the table shows medians and each run (default 3)
  --partitions N         partitions of the input and output topics (default 4)
  --batch-size N         datagen changes per source batch (default 1000)
  --format F             the sink's format: avro or json (default avro)
  --envelope E           the sink's envelope: envelope or row (default envelope)
  --flush-events N       the node's tasks.flushEvents (default: the node's, 5000)
  --flush-interval-ms N  the node's tasks.flushIntervalMs (default: the node's, 1000)
  --transaction-ms N     Java's --transaction-duration-ms (default: the mean time between our commits, run 1)
  --brokers LIST         Kafka (default 127.0.0.1:59092)
  --cpu-prof-dir DIR     run the mesh node under node --cpu-prof, profiles kept in DIR
  --help                 this text
`;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '4' },
    'batch-size': { type: 'string', default: '1000' },
    format: { type: 'string', default: 'avro' },
    envelope: { type: 'string', default: 'envelope' },
    'flush-events': { type: 'string' },
    'flush-interval-ms': { type: 'string' },
    'transaction-ms': { type: 'string' },
    brokers: { type: 'string', default: '127.0.0.1:59092' },
    'cpu-prof-dir': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

class UsageError extends BenchSetupError {}

if (values.help) {
  process.stdout.write(HELP);
} else {
  process.exitCode = await main().catch((error) => {
    console.error(error instanceof BenchSetupError ? error.message : (error.stack ?? String(error)));
    return error instanceof UsageError ? 2 : 1;
  });
}

function options() {
  const int = (flag, min = 1) => {
    if (values[flag] === undefined) return undefined;
    const n = Number(values[flag]);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}`);
    return n;
  };
  if (!['avro', 'json'].includes(values.format)) throw new UsageError('--format takes avro or json');
  if (!['envelope', 'row'].includes(values.envelope))
    throw new UsageError('--envelope takes envelope or row');
  return {
    events: int('events'),
    runs: int('runs'),
    partitions: int('partitions'),
    batchSize: int('batch-size'),
    format: values.format,
    envelope: values.envelope,
    flushEvents: int('flush-events'),
    flushIntervalMs: int('flush-interval-ms'),
    transactionMs: int('transaction-ms'),
    brokers: values.brokers.split(','),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Java: ProducerPerformance in a JVM of its own, wall time, CPU and max RSS of the whole process.

async function prepareJava(work) {
  const { endpoint } = await import('../services/kafka.mjs');
  const { javaBinary } = await import('../services/lib/maven.mjs');
  const lib = endpoint.libDir;
  if (!existsSync(lib) || !readdirSync(lib).some((f) => /^kafka-tools-\d/.test(f))) {
    throw new BenchSetupError(
      `no kafka-tools jar in ${lib}: run \`node tools/services/cli.mjs up kafka\` once to fetch it`,
    );
  }
  const log4j = quietLog4j(work);
  return {
    java: javaBinary(),
    timeBin: existsSync('/usr/bin/time') ? '/usr/bin/time' : null,
    work,
    args: ['-Xmx512m', `-Dlog4j2.configurationFile=file:${log4j}`, '-cp', `${lib}/*`],
  };
}

function javaProcess(jvm, mainClass, toolArgs) {
  const timesFile = join(jvm.work, `time-${process.hrtime.bigint()}`);
  const javaArgs = [...jvm.args, mainClass, ...toolArgs];
  const [cmd, args] = jvm.timeBin
    ? [jvm.timeBin, ['-o', timesFile, '-f', '%e %U %S %M', jvm.java, ...javaArgs]]
    : ['bash', ['-c', `"$@"; rc=$?; times > '${timesFile}'; exit $rc`, 'bash', jvm.java, ...javaArgs]];
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - started) / 1000;
      let cpuSeconds = NaN;
      let peakRssBytes = NaN;
      try {
        const text = readFileSync(timesFile, 'utf8').trim();
        rmSync(timesFile, { force: true });
        if (jvm.timeBin) {
          const [, user, system, rssKb] = text.split('\n').pop().split(/\s+/).map(Number);
          cpuSeconds = user + system;
          peakRssBytes = rssKb * 1024;
        } else {
          const secs = (t) => {
            const m = t.match(/(\d+)m([\d.]+)s/);
            return Number(m[1]) * 60 + Number(m[2]);
          };
          const [user, system] = text.split('\n')[1].trim().split(/\s+/).map(secs);
          cpuSeconds = user + system;
        }
      } catch {
        // no figures: reported as n/a
      }
      if (code !== 0)
        reject(new Error(`${mainClass} ${signal ?? `exit ${code}`}: ${`${out}\n${err}`.trim().slice(-800)}`));
      else resolveRun({ stdout: out, stderr: err.trim(), wallS, cpuSeconds, peakRssBytes });
    });
  });
}

async function javaProduce(jvm, { topic, events, recordSize, brokers, transactionMs, transactionalId }) {
  const p = await javaProcess(jvm, 'org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    topic,
    '--num-records',
    String(events),
    '--record-size',
    String(recordSize),
    '--throughput',
    '-1',
    ...(transactionalId
      ? ['--transactional-id', transactionalId, '--transaction-duration-ms', String(transactionMs)]
      : []),
    '--producer-props',
    `bootstrap.servers=${brokers.join(',')}`,
    'acks=all',
    'enable.idempotence=true',
    'linger.ms=5',
    'batch.size=65536',
    'compression.type=none',
  ]);
  // The summary: "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, …".
  const line = p.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => /records sent.*99th/.test(l));
  const m = line?.match(/^(\d+) records sent, ([\d.]+) records\/sec/);
  if (!m) throw new Error(`no summary line in ProducerPerformance's output: ${p.stdout.slice(-500)}`);
  if (Number(m[1]) !== events)
    throw new Error(`ProducerPerformance sent ${m[1]} records, expected ${events}`);
  return {
    events,
    seconds: p.wallS,
    steadySeconds: events / Number(m[2]),
    startSeconds: NaN,
    cpuSeconds: p.cpuSeconds,
    peakRssBytes: p.peakRssBytes,
    transactions: NaN,
    stderr: p.stderr,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Checks on what the sink wrote.

/** Reads a topic to its end (read_committed): records and their average key + value + header bytes. */
async function readTopic(brokers, topic, expected, group) {
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const consumer = new Kafka({
    clientId: 'datamesh-bench-sink-kafka',
    brokers,
    logLevel: logLevel.NOTHING,
  }).consumer({
    groupId: group,
    readUncommitted: false,
  });
  await consumer.connect();
  let count = 0;
  let bytes = 0;
  let keyBytes = 0;
  let headerBytes = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolveRead, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${count} of ${expected} records of ${topic} in 120 s`)),
        120_000,
      );
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              count++;
              keyBytes += message.key?.length ?? 0;
              bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
              for (const [k, v] of Object.entries(message.headers ?? {}))
                headerBytes += k.length + (v?.length ?? 0);
            }
            if (count >= expected) {
              clearTimeout(timer);
              resolveRead();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return {
    count,
    avgBytes: bytes / count,
    avgKeyBytes: keyBytes / count,
    avgHeaderBytes: headerBytes / count,
  };
}

async function sumHigh(admin, topic) {
  return (await admin.fetchTopicOffsets(topic)).reduce((a, p) => a + Number(p.high), 0);
}

/** The sink group committed every input partition to its end (the end may be one commit marker further). */
async function checkCommitted(admin, group, topic) {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  for (const p of entry.partitions) {
    const end = ends.get(p.partition);
    if (Number(p.offset) < end - 1)
      throw new Error(`group ${group} committed ${p.offset} on ${topic}/${p.partition}, whose end is ${end}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The benchmark.

async function main() {
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name !== 'TimeoutNegativeWarning') console.warn(`${w.name}: ${w.message}`);
  });
  const opts = options();
  requireBuilt(['core', 'transport-kafka', 'connector-datagen', 'sink-kafka', 'cli'], 'sink-kafka');
  await checkKafka(opts.brokers, START_HINT);
  const id = Date.now().toString(36);
  const name = `bench-kafka-sink-${id}`;
  const work = mkdtempSync(join(tmpdir(), 'datamesh-bench-sink-kafka-'));
  const jvm = await prepareJava(work).catch((error) => {
    rmSync(work, { recursive: true, force: true });
    throw error;
  });
  const javaVersion = `${(await javaProcessVersion(jvm)) ?? '?'}`;
  const source = datagenStage(`${name}-src`, { events: opts.events, batchSize: opts.batchSize });
  const tasks = {
    ...(opts.flushEvents ? { flushEvents: opts.flushEvents } : {}),
    ...(opts.flushIntervalMs ? { flushIntervalMs: opts.flushIntervalMs } : {}),
  };
  const created = { topics: new Set([`${source.name}.orders`]), groups: new Set() };
  const nodes = new Set();
  const admin = kafkaAdmin(opts.brokers);
  await admin.connect();
  const cleanup = async () => {
    await Promise.all([...nodes].map((n) => n.stop()));
    await deleteKafkaObjects(opts.brokers, {
      topics: [...created.topics, `datamesh.dlq.${name}`, `datamesh.dlq.${name}.replay`],
      groups: [...created.groups],
    });
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    console.log('interrupted: cleaning up…');
    void cleanup().finally(() => process.exit(130));
  });
  const log = (line) => console.log(line);
  const { version: kafkaVersion } = await import('../services/kafka.mjs');

  console.log(
    `Kafka → Kafka: ${fmt(opts.events)} datagen order changes on ${opts.partitions} partitions through the kafka sink ` +
      `(${opts.format}, ${opts.envelope}), ${opts.runs} run(s) per side; node tasks ${JSON.stringify(tasks)}`,
  );
  console.log(
    `  Java: ProducerPerformance (Kafka ${kafkaVersion} tools), acks=all enable.idempotence=true linger.ms=5 ` +
      `batch.size=65536 compression.type=none; ${javaVersion}`,
  );
  console.log(`  ${machineText()}`);

  const modes = [
    { key: 'eos', label: 'exactly once', exactlyOnce: true, java: 'transactional' },
    { key: 'alo', label: 'at least once', exactlyOnce: false, java: 'idempotent' },
  ];
  const results = { ours: { eos: [], alo: [] }, java: { eos: [], alo: [] } };
  let shape; // { recordSize, transactionMs, … } from run 1
  let failed = 0;
  try {
    const fill = await fillWithDatagen({
      work,
      pipeline: { apiVersion: 'datamesh/v1', kind: 'Pipeline', name, sources: [source] },
      brokers: opts.brokers,
      partitions: opts.partitions,
      log,
    });
    console.log(`step 1: ${fmt(opts.events)} events in ${fill.topic} in ${fmt(fill.seconds, 1)} s`);

    for (let run = 1; run <= opts.runs; run++) {
      const sides = [
        ...modes.map((mode) => ({ side: 'ours', mode })),
        ...[...modes].reverse().map((mode) => ({ side: 'java', mode })),
      ];
      if (run % 2 === 0) sides.reverse();
      const round = { ours: {}, java: {} };
      try {
        for (const { side, mode } of sides) {
          if (side === 'ours') {
            round.ours[mode.key] = await oursRun({
              opts,
              work,
              name,
              source,
              mode,
              run,
              tasks,
              created,
              nodes,
              admin,
              log,
            });
            if (!shape && mode.key === 'eos') {
              const read = await readTopic(opts.brokers, round.ours.eos.topic, opts.events, `${name}-check`);
              created.groups.add(`${name}-check`);
              if (read.count !== opts.events)
                throw new Error(
                  `${round.ours.eos.topic} holds ${read.count} committed records, expected ${opts.events}`,
                );
              const r = round.ours.eos;
              shape = {
                recordSize: Math.round(read.avgBytes),
                avgKeyBytes: read.avgKeyBytes,
                avgHeaderBytes: read.avgHeaderBytes,
                transactionMs:
                  opts.transactionMs ?? Math.max(1, Math.round((r.steadySeconds * 1000) / r.transactions)),
              };
              console.log(
                `  our output: ${fmt(read.count)} committed records, ${fmt(read.avgBytes, 1)} B key + value on average ` +
                  `(key ${fmt(read.avgKeyBytes, 1)} B, headers ${fmt(read.avgHeaderBytes, 1)} B); ${fmt(r.transactions)} ` +
                  `transactions, one every ${fmt((r.steadySeconds * 1000) / r.transactions)} ms → Java record-size ` +
                  `${shape.recordSize}, --transaction-duration-ms ${shape.transactionMs}`,
              );
            }
          } else {
            if (!shape) throw new Error('no record size: our exactly-once run did not complete');
            const topic = `${name}-java-${mode.key}-${run}`;
            created.topics.add(topic);
            await admin.createTopics({
              topics: [{ topic, numPartitions: opts.partitions, replicationFactor: 1 }],
              waitForLeaders: true,
            });
            round.java[mode.key] = await javaProduce(jvm, {
              topic,
              events: opts.events,
              recordSize: shape.recordSize,
              brokers: opts.brokers,
              transactionMs: shape.transactionMs,
              transactionalId: mode.exactlyOnce ? `${topic}-tx` : undefined,
            });
            const high = await sumHigh(admin, topic);
            if (mode.exactlyOnce ? high < opts.events : high !== opts.events)
              throw new Error(`Java's topic ${topic} ends at ${high}, expected ${opts.events}`);
            await admin.deleteTopics({ topics: [topic] }).catch(() => {});
            created.topics.delete(topic);
          }
        }
        for (const mode of modes) {
          results.ours[mode.key].push(round.ours[mode.key]);
          results.java[mode.key].push(round.java[mode.key]);
        }
        console.log(
          `run ${run}: ` +
            modes
              .map(
                (mode) =>
                  `${mode.label}: ours ${fmt(opts.events / round.ours[mode.key].seconds)} ev/s ` +
                  `(${fmt(round.ours[mode.key].flushes)} flushes waited ${fmt(round.ours[mode.key].flushSeconds, 2)} s), ` +
                  `Java ${fmt(opts.events / round.java[mode.key].seconds)} ev/s`,
              )
              .join('; ') +
            ` (process start → done; our node's "node started" after ` +
            `${fmt(round.ours.eos.nodeStartSeconds, 2)} s; ${run % 2 ? 'ours' : 'Java'} first; load ${loadText()})`,
        );
      } catch (error) {
        failed++;
        console.log(`run ${run}: FAILED: ${error.stack ?? error}`);
        if (!shape) break;
      }
    }
  } finally {
    await cleanup();
    await admin.disconnect();
  }
  if (results.ours.eos.length > 0) printFigures(results, modes, shape);
  return failed > 0 ? 1 : 0;
}

async function javaProcessVersion(jvm) {
  return new Promise((resolveVersion) => {
    const child = spawn(jvm.java, ['-version'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.on('close', () => resolveVersion(err.split('\n')[0]?.trim()));
    child.on('error', () => resolveVersion(undefined));
  });
}

/** One measured run of our sink in one mode, into a fresh output topic; checks what it wrote and committed. */
async function oursRun({ opts, work, name, source, mode, run, tasks, created, nodes, admin, log }) {
  const sinkStage = `kafka-${mode.key}-${run}`;
  const topic = `${name}-out-${mode.key}-${run}`;
  const group = `datamesh.${name}.${sinkStage}`;
  created.topics.add(topic);
  created.groups.add(group);
  const pipeline = {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name,
    sources: [source],
    sinks: [
      {
        name: sinkStage,
        plugin: 'kafka',
        inputs: [source.name],
        config: {
          topic,
          partitions: opts.partitions,
          format: opts.format,
          envelope: opts.envelope,
          exactlyOnce: mode.exactlyOnce,
        },
      },
    ],
  };
  const dir = values['cpu-prof-dir'];
  const node = await MeshNode.start({
    work,
    pipeline,
    brokers: opts.brokers,
    partitions: opts.partitions,
    tasks,
    nodeFlags: dir
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          resolve(dir),
          '--cpu-prof-name',
          `mesh-node-kafka-${mode.key}-${Date.now()}.cpuprofile`,
        ]
      : [],
    log,
    tag: `${name}-${sinkStage}`,
  });
  nodes.add(node);
  let result;
  try {
    const done = await node.waitStage(sinkStage, opts.events, { label: `kafka sink (${mode.label})`, log });
    const usage = node.usage();
    const m = await node.metrics();
    const sum = (metric, where) => metricSum(m, metric, where);
    const written = sum('datamesh_plugin_kafka_records_written_total');
    if (written !== opts.events)
      throw new Error(`the sink counts ${written} records written, expected ${opts.events}`);
    const sourceOut = sum('datamesh_events_out_total', (l) => l.stage === source.name);
    if (sourceOut !== 0)
      throw new Error(`the source wrote ${sourceOut} more events in step 2 (expected none)`);
    result = {
      topic,
      events: opts.events,
      seconds: (done.doneAt - node.startedAt) / 1000,
      steadySeconds: (done.doneAt - done.firstInAt) / 1000,
      startSeconds: (done.firstInAt - node.startedAt) / 1000,
      cpuSeconds: usage.cpuSeconds,
      peakRssBytes: usage.peakRssBytes,
      transactions: sum('datamesh_plugin_kafka_transactions_total', (l) => l.result === 'committed'),
      nodeStartSeconds: (node.startedLineAt - node.startedAt) / 1000,
      // The consumer loop waits for each flush (the transaction's commit): time it read nothing.
      flushSeconds: sum('datamesh_sink_flush_seconds_sum', (l) => l.stage === sinkStage),
      flushes: sum('datamesh_sink_flush_seconds_count', (l) => l.stage === sinkStage),
    };
  } finally {
    await node.stop();
    nodes.delete(node);
  }
  await checkCommitted(admin, group, `${source.name}.orders`);
  const high = await sumHigh(admin, topic);
  // At least once through an idempotent producer: exactly N records. Exactly once: N plus the commit markers.
  if (mode.exactlyOnce ? high < opts.events : high !== opts.events)
    throw new Error(
      `${topic} ends at ${high}, expected ${mode.exactlyOnce ? 'at least ' : ''}${opts.events}`,
    );
  return result;
}

function printFigures(results, modes, shape) {
  const figures = [
    ['events/s, process start → done', (r) => r.events / r.seconds],
    ['events/s, first event → done', (r) => r.events / r.steadySeconds],
    ['CPU s per 1000 events (whole process)', (r) => (r.cpuSeconds / r.events) * 1000, 3],
    ['peak RSS MB', (r) => r.peakRssBytes / 1e6],
  ];
  const rows = [];
  for (const mode of modes) {
    const java = mode.exactlyOnce ? 'Java transactional' : 'Java idempotent';
    rows.push([`${mode.label} vs ${java}`, '', '', '', '', '']);
    for (const row of figureRows(figures, results.ours[mode.key], results.java[mode.key])) {
      rows.push([`  ${row[0]}`, ...row.slice(1)]);
    }
    const tx = figureRows(
      [['transactions', (r) => r.transactions]],
      results.ours[mode.key],
      results.java[mode.key],
    );
    if (mode.exactlyOnce) rows.push([`  ${tx[0][0]} (ours)`, tx[0][1], '', '', tx[0][4], '']);
  }
  console.log('');
  printTable([['figure', 'ours (sink)', 'Java', 'ours/Java', 'runs: ours', 'runs: Java'], ...rows]);
  console.log(
    `\nmedians of the runs; ratio = ours / Java (higher is better for events/s, lower for CPU and memory). ours: mesh ` +
      'node start → the sink flushed all events (its datamesh_events_out_total, polled every 20 ms near the end), "first event" = ' +
      `the sink received its first event; reading, decoding and re-encoding (${values.format}, ${values.envelope}) ` +
      `included. Java: JVM start → exit, and its own records/sec (first send → last ack); ${fmt(shape?.recordSize)} B ` +
      'random values without keys, i.e. the average key + value bytes of our output records; the transactional run ' +
      `commits every ${fmt(shape?.transactionMs)} ms. CPU: user + system of the whole process (/proc for the node, ` +
      "GNU time for the JVM, JVM start included); peak RSS: VmHWM / time's max RSS.",
  );
}
