// Our Kafka transport (@datamesh/transport-kafka, from its build in packages/transport-kafka/dist) beside the
// Java tools of Apache Kafka (ProducerPerformance and ConsumerPerformance, the classes behind
// kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh) on the same broker: produce throughput, CPU and ack
// latency with an idempotent producer (acks=all, no compression), then consume throughput and CPU of a consumer
// group reading those events back from the beginning.
//   node tools/bench/kafka-transport.mjs [--events 500000] [--size 256] [--runs 3] [--partitions 4]
//        [--batch 1000] [--in-flight 4] [--poll 10000] [--brokers 127.0.0.1:59092] [--cpu-prof-dir DIR]
// Needs the broker of tools/services (`node tools/services/cli.mjs up kafka`), its jars (kafka-tools, log4j)
// and a java on PATH (or JAVA_HOME). Every measured client runs in a process of its own: ours in a child Node
// process (this file, with --child produce|consume), Java in its JVM, so no figure includes another's CPU.
import { quietLog4j } from './lib/java-tools.mjs';
import { fmt, printTable } from './lib/report.mjs';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(join(root, 'package.json'));

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '500000' },
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '4' },
    batch: { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '4' },
    poll: { type: 'string', default: '10000' },
    brokers: { type: 'string', default: '127.0.0.1:59092' },
    'cpu-prof-dir': { type: 'string' }, // run our children under `node --cpu-prof` and keep the profiles here
    child: { type: 'string' }, // internal: produce | consume, in this process, printing its JSON
    topic: { type: 'string' }, // internal
    group: { type: 'string' }, // internal
  },
});
const opts = {
  events: Number(values.events),
  size: Number(values.size),
  runs: Number(values.runs),
  partitions: Number(values.partitions),
  batch: Number(values.batch),
  inFlight: Number(values['in-flight']),
  poll: Number(values.poll),
  brokers: values.brokers.split(','),
};
for (const [name, v] of Object.entries(opts)) {
  if (typeof v === 'number' && !(Number.isInteger(v) && v > 0)) {
    console.error(`--${name === 'inFlight' ? 'in-flight' : name} must be a positive integer`);
    process.exit(2);
  }
}
const KEY_BYTES = 10; // `k-` + 8 digits
const RECORD_BYTES = KEY_BYTES + opts.size; // what each record carries on both sides (see JAVA_RECORD_SIZE)
// ProducerPerformance (4.1.1) sends ProducerRecord(topic, value): no key, with --record-size and with
// --payload-file alike. So its values are KEY_BYTES longer than ours, and both sides put the same bytes per
// record on the wire; its null keys go through the sticky partitioner, ours through murmur2 over 4 partitions.
const JAVA_RECORD_SIZE = RECORD_BYTES;
const RESULT_PREFIX = '@@kafka-transport-result ';
const IMPORT_FAILED = 3; // exit code of a child that could not load the transport's build

if (values.child) {
  await runChild(values.child).catch((error) => {
    console.error(`ours (${values.child}): ${describeError(error)}`);
    console.error(
      `  ${String(error?.stack ?? '')
        .split('\n')
        .slice(1, 6)
        .map((l) => l.trim())
        .join(' | ')}`,
    );
    process.exit(1);
  });
} else {
  await runParent();
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: environment, then per run: produce (ours, Java; the order alternates between runs so a drift of the
// machine's load spreads over both), consume of the topic ours wrote (ours, Java; each with a fresh group),
// checks through an admin client, deletion of the run's topics and groups. Then the table.

async function runParent() {
  // kafkajs (the admin here) trips Node's TimeoutNegativeWarning; it says nothing about what is measured.
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name !== 'TimeoutNegativeWarning') console.warn(`${w.name}: ${w.message}`);
  });
  const { endpoint } = await import('../services/kafka.mjs');
  const { javaBinary } = await import('../services/lib/maven.mjs');
  const java = javaBinary();
  const lib = endpoint.libDir;
  if (!existsSync(lib) || !readdirSync(lib).some((f) => /^kafka-tools-\d/.test(f))) {
    console.error(
      `no kafka-tools jar in ${lib}: run \`node tools/services/cli.mjs up kafka\` once to fetch it`,
    );
    process.exit(1);
  }
  try {
    await import('@datamesh/transport-kafka');
  } catch (error) {
    console.error(
      `cannot import @datamesh/transport-kafka (build it: npm run bench -- kafka-transport): ${error}`,
    );
    process.exit(1);
  }
  const work = mkdtempSync(join(tmpdir(), 'datamesh-bench-kafka-transport-'));
  const log4j = quietLog4j(work);
  const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  const jvm = {
    java,
    timeBin,
    work,
    args: ['-Xmx512m', `-Dlog4j2.configurationFile=file:${log4j}`, '-cp', `${lib}/*`],
  };

  const broker = brokerVersion();
  const javaVersion = `${spawnSync(java, ['-version'], { encoding: 'utf8' }).stderr}`.split('\n')[0].trim();
  const N = opts.events;
  console.log(
    `${fmt(N)} events of ${opts.size} B value + ${KEY_BYTES} B key (Java: ${JAVA_RECORD_SIZE} B value, no key), ` +
      `fresh topics of ${opts.partitions} partitions, idempotent producers, acks=all, no compression; ` +
      `${opts.runs} run(s)`,
  );
  console.log(
    `  ours: @datamesh/transport-kafka (kafkajs ${packageVersion('kafkajs')}), send() of ${fmt(opts.batch)} records, ` +
      `up to ${opts.inFlight} in flight; consumer group polling ${fmt(opts.poll)}, commit after each poll`,
  );
  console.log(
    `  Java: ProducerPerformance --throughput -1, linger.ms=5 batch.size=65536; ConsumerPerformance (defaults)`,
  );
  console.log(
    `node ${process.version}, ${javaVersion} (-Xmx512m), ${broker}, ${cpus().length} CPUs ` +
      `(${cpus()[0]?.model.trim() ?? '?'}), load average ${loadavgText()}`,
  );
  console.log(
    `Java CPU from ${timeBin ? `${timeBin} (user + system of the JVM)` : "bash's times (user + system of the JVM)"}`,
  );

  const admin = await adminClient();
  const created = { topics: new Set(), groups: new Set() };
  const cleanup = async () => {
    if (created.groups.size > 0) await admin.deleteGroups([...created.groups]).catch(() => {});
    if (created.topics.size > 0) await admin.deleteTopics({ topics: [...created.topics] }).catch(() => {});
    created.groups.clear();
    created.topics.clear();
  };
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });

  const runs = { ours: [], java: [], jvmStart: [] };
  let failed = 0;
  try {
    for (let run = 1; run <= opts.runs; run++) {
      const id = `${Date.now().toString(36)}-${process.pid}-${run}`;
      const oursTopic = `bench-kafka-transport-${id}-ours`;
      const javaTopic = `bench-kafka-transport-${id}-java`;
      const oursGroup = `${oursTopic}-group`;
      const javaGroup = `${javaTopic}-group`;
      created.topics.add(oursTopic).add(javaTopic);
      created.groups.add(oursGroup).add(javaGroup);
      try {
        // Ours creates its own topic (ensureTopic, before its clock starts); Java's is made here.
        await admin.createTopics({
          topics: [{ topic: javaTopic, numPartitions: opts.partitions, replicationFactor: 1 }],
          waitForLeaders: true,
        });
        const jvmStart = await javaProcess(jvm, 'org.apache.kafka.tools.ConsumerPerformance', ['--version']);
        if (jvmStart.error) throw new Error(`java --version: ${jvmStart.error}`);
        runs.jvmStart.push(jvmStart);

        const order = run % 2 === 1 ? ['ours', 'java'] : ['java', 'ours'];
        const produce = {};
        for (const side of order) {
          produce[side] =
            side === 'ours'
              ? await oursChild('produce', oursTopic, null)
              : await javaProduce(jvm, javaTopic, jvmStart);
        }
        // Both consumers read the topic ours wrote: the same bytes, keys and spread over the partitions.
        const consume = {};
        for (const side of order) {
          consume[side] =
            side === 'ours'
              ? await oursChild('consume', oursTopic, oursGroup)
              : await javaConsume(jvm, oursTopic, javaGroup, jvmStart);
        }
        for (const side of ['ours', 'java']) {
          for (const [phase, r] of [
            ['produce', produce[side]],
            ['consume', consume[side]],
          ]) {
            if (r.error) throw new Error(`${side} ${phase}: ${r.error}`);
          }
        }
        // What the broker holds: each producer wrote each event once; ours committed everything it read.
        const ends = await endOffsets(admin, [oursTopic, javaTopic]);
        if (ends[oursTopic] !== N)
          throw new Error(`the topic ours wrote holds ${ends[oursTopic]} events, expected ${N}`);
        if (ends[javaTopic] !== N)
          throw new Error(`the topic Java wrote holds ${ends[javaTopic]} events, expected ${N}`);
        const oursCommitted = await committedSum(admin, oursGroup, oursTopic);
        if (oursCommitted !== N)
          throw new Error(`our group committed offsets summing to ${oursCommitted}, expected ${N}`);
        const javaCommitted = await committedSum(admin, javaGroup, oursTopic);

        runs.ours.push({ produce: produce.ours, consume: consume.ours });
        runs.java.push({ produce: produce.java, consume: consume.java, committed: javaCommitted });
        console.log(
          `run ${run}: produce ours ${fmt(produce.ours.eventsPerSec).padStart(7)} ev/s, Java ${fmt(produce.java.eventsPerSec).padStart(7)} ev/s; ` +
            `consume ours ${fmt(consume.ours.eventsPerSec).padStart(7)} ev/s, Java ${fmt(consume.java.eventsPerSec).padStart(7)} ev/s; ` +
            `JVM start ${fmt(jvmStart.wallS, 2)} s (${order.join(' first, ')} second; load ${loadavgText()})`,
        );
      } catch (error) {
        failed++;
        console.log(`run ${run}: FAILED: ${describeError(error)}`);
      } finally {
        await cleanup();
      }
    }
  } finally {
    await cleanup();
    await admin.disconnect();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`load average after: ${loadavgText()}`);
  if (runs.ours.length > 0) printComparison(runs);
  process.exit(failed > 0 ? 1 : 0);
}

function brokerVersion() {
  // The services tool knows which Kafka it runs; for any other --brokers the version is not known here.
  if (values.brokers !== '127.0.0.1:59092') return `broker ${values.brokers} (version not checked)`;
  const status = spawnSync(process.execPath, [join(root, 'tools/services/cli.mjs'), 'status', 'kafka'], {
    encoding: 'utf8',
  });
  const line = `${status.stdout}${status.stderr}`;
  if (!/\bok\b/.test(line)) {
    console.error(`the Kafka broker of tools/services is not running: ${line.trim()}`);
    console.error('start it with: node tools/services/cli.mjs up kafka');
    process.exit(1);
  }
  return `broker ${line.match(/Kafka \S+/)?.[0] ?? 'Kafka ?'} (KRaft, single node) at ${values.brokers}`;
}

async function adminClient() {
  const { Kafka, logLevel } = require('kafkajs');
  const admin = new Kafka({
    clientId: 'datamesh-bench-admin',
    brokers: opts.brokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  return admin;
}

async function endOffsets(admin, topics) {
  const out = {};
  for (const t of topics) {
    out[t] = (await admin.fetchTopicOffsets(t)).reduce((sum, p) => sum + Number(p.high), 0);
  }
  return out;
}

async function committedSum(admin, groupId, topic) {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return entry.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

// One of our children; wall time and exit measured here, the rest reported by the child.
// A child whose import of the build failed measured nothing: it runs again once.
async function oursChild(phase, topic, group) {
  const result = await oursChildOnce(phase, topic, group);
  if (result.exitCode !== IMPORT_FAILED) return result;
  console.log(`ours ${phase}: the transport's dist did not load (rebuilt meanwhile?); running it again`);
  await new Promise((r) => setTimeout(r, 5000));
  return oursChildOnce(phase, topic, group);
}

function oursChildOnce(phase, topic, group) {
  const nodeFlags = values['cpu-prof-dir']
    ? [
        '--cpu-prof',
        '--cpu-prof-dir',
        resolve(values['cpu-prof-dir']),
        '--cpu-prof-name',
        `ours-${phase}-${Date.now()}.cpuprofile`,
      ]
    : [];
  const args = [...nodeFlags, fileURLToPath(import.meta.url), '--child', phase, '--topic', topic];
  if (group) args.push('--group', group);
  for (const k of ['events', 'size', 'partitions', 'batch', 'in-flight', 'poll', 'brokers']) {
    args.push(`--${k}`, values[k]);
  }
  return new Promise((resolveRun) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), hangLimitMs());
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - started) / 1000;
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) {
        const r = JSON.parse(line.slice(RESULT_PREFIX.length));
        r.processWallS = wallS;
        r.eventsPerSecWithStart = opts.events / wallS;
        r.stderr = err.trim();
        resolveRun(r);
      } else {
        resolveRun({
          exitCode: code,
          error: `${signal ?? `exit ${code}`}: ${`${out}\n${err}`.trim().slice(-800)}`,
        });
      }
    });
  });
}

function hangLimitMs() {
  return 120_000 + opts.events * 0.5; // generous; only for a hung run
}

// A JVM running one of the tools: stdout, and wall / CPU / max RSS of the whole process (JVM start included).
function javaProcess(jvm, mainClass, toolArgs) {
  const timesFile = join(jvm.work, `time-${process.hrtime.bigint()}`);
  const javaArgs = [...jvm.args, mainClass, ...toolArgs];
  const [cmd, args] = jvm.timeBin
    ? [jvm.timeBin, ['-o', timesFile, '-f', '%e %U %S %M', jvm.java, ...javaArgs]]
    : // bash's `times` prints the shell's, then its children's, user and system time.
      ['bash', ['-c', `"$@"; rc=$?; times > '${timesFile}'; exit $rc`, 'bash', jvm.java, ...javaArgs]];
  return new Promise((resolveRun) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), hangLimitMs());
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - started) / 1000;
      let cpuS = NaN;
      let maxRssMb = NaN;
      try {
        const text = readFileSync(timesFile, 'utf8').trim();
        rmSync(timesFile, { force: true });
        if (jvm.timeBin) {
          // With a non-zero exit GNU time writes "Command exited with non-zero status N" first.
          const [, user, system, rssKb] = text.split('\n').pop().split(/\s+/).map(Number);
          cpuS = user + system;
          maxRssMb = (rssKb * 1024) / 1e6;
        } else {
          const secs = (t) => {
            const m = t.match(/(\d+)m([\d.]+)s/);
            return Number(m[1]) * 60 + Number(m[2]);
          };
          const [user, system] = text.split('\n')[1].trim().split(/\s+/).map(secs);
          cpuS = user + system;
        }
      } catch {
        // no figures: reported as NaN
      }
      const stderr = err.trim();
      if (code !== 0) {
        resolveRun({ error: `${signal ?? `exit ${code}`}: ${`${out}\n${stderr}`.trim().slice(-800)}` });
      } else {
        resolveRun({ stdout: out, stderr, wallS, cpuS, maxRssMb });
      }
    });
  });
}

async function javaProduce(jvm, topic, jvmStart) {
  const N = opts.events;
  const p = await javaProcess(jvm, 'org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    topic,
    '--num-records',
    String(N),
    '--record-size',
    String(JAVA_RECORD_SIZE),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${opts.brokers.join(',')}`,
    'acks=all',
    'enable.idempotence=true',
    'linger.ms=5',
    'batch.size=65536',
    'compression.type=none',
  ]);
  if (p.error) return p;
  // The summary line: "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, p50, p95,
  // p99, p99.9". Earlier lines (every 5 s) have no percentiles.
  const line = p.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => /records sent.*99th/.test(l));
  const m = line?.match(
    /^(\d+) records sent, ([\d.]+) records\/sec .*?, ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th/,
  );
  if (!m) return { error: `no summary line in ProducerPerformance's output: ${p.stdout.slice(-500)}` };
  if (Number(m[1]) !== N) return { error: `ProducerPerformance sent ${m[1]} records, expected ${N}` };
  const eventsPerSec = Number(m[2]);
  return {
    eventsPerSec,
    mbPerSec: (eventsPerSec * RECORD_BYTES) / 1e6,
    seconds: N / eventsPerSec,
    processWallS: p.wallS,
    eventsPerSecWithStart: N / p.wallS,
    cpuPer100k: (p.cpuS - jvmStart.cpuS) / (N / 100_000),
    processCpuPer100k: p.cpuS / (N / 100_000),
    latencyAvgMs: Number(m[3]),
    latencyP99Ms: Number(m[7]),
    maxRssMb: p.maxRssMb,
    stderr: p.stderr,
  };
}

async function javaConsume(jvm, topic, group, jvmStart) {
  const N = opts.events;
  const p = await javaProcess(jvm, 'org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    opts.brokers.join(','),
    '--topic',
    topic,
    '--messages',
    String(N),
    '--group',
    group,
    '--hide-header',
  ]);
  if (p.error) return p;
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
  // fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec (MB there are MiB).
  const line = p.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.split(', ').length === 10);
  if (!line) return { error: `no figures in ConsumerPerformance's output: ${p.stdout.slice(-500)}` };
  const f = line.split(', ');
  const count = Number(f[4]);
  if (count !== N)
    return { error: `ConsumerPerformance read ${count} records, expected ${N}: ${p.stdout.slice(-300)}` };
  const joinMs = Number(f[6]);
  const fetchMs = Number(f[7]);
  return {
    eventsPerSec: N / (fetchMs / 1000),
    mbPerSec: (N * RECORD_BYTES) / 1e6 / (fetchMs / 1000),
    eventsPerSecWithJoin: Number(f[5]),
    seconds: fetchMs / 1000,
    joinMs,
    processWallS: p.wallS,
    eventsPerSecWithStart: N / p.wallS,
    cpuPer100k: (p.cpuS - jvmStart.cpuS) / (N / 100_000),
    processCpuPer100k: p.cpuS / (N / 100_000),
    maxRssMb: p.maxRssMb,
    stderr: p.stderr,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Children: our transport, one phase per process.

async function runChild(phase) {
  process.removeAllListeners('warning');
  const warnings = {};
  process.on('warning', (w) => (warnings[w.name] = (warnings[w.name] ?? 0) + 1));
  const { KafkaTransport } = await import('@datamesh/transport-kafka');
  if (typeof KafkaTransport !== 'function') {
    // Seen when another build rewrote packages/transport-kafka/dist while this process loaded it.
    console.error('@datamesh/transport-kafka loaded without KafkaTransport: its dist was being rebuilt?');
    process.exit(IMPORT_FAILED);
  }
  const transport = await KafkaTransport.connect({ brokers: opts.brokers, compression: 'none' });
  let result;
  try {
    result = phase === 'produce' ? await childProduce(transport) : await childConsume(transport);
  } finally {
    await transport.close();
  }
  const cpu = process.cpuUsage(); // the whole process: Node start, imports, connect, the phase, close
  result.processCpuPer100k = (cpu.user + cpu.system) / 1e6 / (opts.events / 100_000);
  result.maxRssMb = (process.resourceUsage().maxRSS * 1024) / 1e6;
  result.warnings = warnings;
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  process.exit(0);
}

async function childProduce(transport) {
  const N = opts.events;
  const topic = values.topic;
  await transport.ensureTopic(topic, { partitions: opts.partitions });
  const producer = transport.producer();
  // Every batch built before the clock starts, so only the transport is measured.
  const keys = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`k-${String(i).padStart(8, '0')}`));
  const valuePool = Array.from({ length: 1024 }, (_, i) => {
    const v = Buffer.alloc(opts.size);
    for (let j = 0; j < opts.size; j++) v[j] = 32 + ((i * 31 + j * 7) % 95);
    return v;
  });
  let batches = [];
  for (let from = 0; from < N; from += opts.batch) {
    const batch = [];
    for (let i = from; i < Math.min(N, from + opts.batch); i++) {
      batch.push({ topic, key: keys[i % keys.length], value: valuePool[i % valuePool.length] });
    }
    batches.push(batch);
  }
  const latencies = new Float64Array(batches.length);
  // Timed from the first send: it connects the producer (idempotent: InitProducerId) and fetches the topic's
  // metadata, as the Java producer does on its first send.
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const index = next++;
      const sent = performance.now();
      const metadata = await producer.send(batches[index]);
      latencies[index] = performance.now() - sent;
      if (metadata.length !== batches[index].length) throw new Error('send resolved short');
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.inFlight, batches.length) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  batches = null;
  await producer.close();
  // Per record, as Java reports it: each record of a send waited as long as its send.
  let sum = 0;
  for (let i = 0; i < latencies.length; i++) sum += latencies[i] * Math.min(opts.batch, N - i * opts.batch);
  const sorted = Float64Array.from(latencies).sort();
  return {
    eventsPerSec: N / seconds,
    mbPerSec: (N * RECORD_BYTES) / 1e6 / seconds,
    seconds,
    cpuPer100k: cpu / (N / 100_000),
    latencyAvgMs: sum / N,
    latencyP99Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))],
  };
}

async function childConsume(transport) {
  const N = opts.events;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const consumer = transport.consumer({ group: values.group, topics: [values.topic], fromBeginning: true });
  // The moment the group assigned partitions, from kafkajs's GROUP_JOIN event on the consumer our transport
  // wraps (not part of the Transport API; without it the first non-empty poll stands in for it).
  let joinedAt = null;
  let joinedCpu = null;
  const inner = consumer.parts?.consumer;
  inner?.on?.(inner.events?.GROUP_JOIN ?? 'consumer.group_join', () => {
    joinedAt ??= performance.now();
    joinedCpu ??= process.cpuUsage();
  });
  let count = 0;
  let bytes = 0;
  let polls = 0;
  let lastProgress = performance.now();
  while (count < N) {
    const records = await consumer.poll({ maxRecords: opts.poll, maxWaitMs: 1000 });
    polls++;
    if (records.length === 0) {
      if (performance.now() - lastProgress > 60_000) throw new Error(`consume stalled at ${count} of ${N}`);
      continue;
    }
    joinedAt ??= performance.now();
    joinedCpu ??= process.cpuUsage();
    lastProgress = performance.now();
    const last = new Map(); // partition → next offset
    for (const r of records) {
      bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
      last.set(r.partition, r.offset + 1);
    }
    // The shape of a sink: commit what this batch read before taking the next.
    await consumer.commit(
      [...last].map(([partition, offset]) => ({ topic: values.topic, partition, offset })),
    );
    count += records.length;
  }
  const end = performance.now();
  const cpu = cpuSeconds(joinedCpu);
  const cpuWithJoin = cpuSeconds(cpu0);
  if (count !== N) throw new Error(`consumed ${count} records, expected ${N}`);
  if (bytes !== N * RECORD_BYTES)
    throw new Error(`consumed ${bytes} bytes of keys and values, expected ${N * RECORD_BYTES}`);
  await consumer.close();
  const seconds = (end - joinedAt) / 1000;
  return {
    eventsPerSec: N / seconds,
    mbPerSec: (N * RECORD_BYTES) / 1e6 / seconds,
    eventsPerSecWithJoin: N / ((end - t0) / 1000),
    seconds,
    joinMs: joinedAt - t0,
    cpuPer100k: cpu / (N / 100_000),
    cpuWithJoinPer100k: cpuWithJoin / (N / 100_000),
    polls,
    joinFromEvent: inner !== undefined,
  };
}

// CPU seconds (user + system) since an absolute process.cpuUsage() reading.
function cpuSeconds(from, to = process.cpuUsage()) {
  return (to.user + to.system - from.user - from.system) / 1e6;
}

// ---------------------------------------------------------------------------------------------------------------
// Output.

function printComparison(runs) {
  const metrics = [
    ['produce events/s', (r) => r.produce.eventsPerSec, 'high', 0],
    ['produce MB/s', (r) => r.produce.mbPerSec, 'high', 1],
    ['produce events/s incl. process start', (r) => r.produce.eventsPerSecWithStart, 'high', 0],
    ['produce CPU s/100k', (r) => r.produce.cpuPer100k, 'low', 3],
    ['produce CPU s/100k whole process', (r) => r.produce.processCpuPer100k, 'low', 3],
    ['produce ack latency avg ms', (r) => r.produce.latencyAvgMs, 'low', 1],
    ['produce ack latency p99 ms', (r) => r.produce.latencyP99Ms, 'low', 1],
    ['produce max RSS MB', (r) => r.produce.maxRssMb, 'low', 0],
    ['consume events/s', (r) => r.consume.eventsPerSec, 'high', 0],
    ['consume MB/s', (r) => r.consume.mbPerSec, 'high', 1],
    ['consume events/s incl. join', (r) => r.consume.eventsPerSecWithJoin, 'high', 0],
    ['consume events/s incl. process start', (r) => r.consume.eventsPerSecWithStart, 'high', 0],
    ['consume CPU s/100k', (r) => r.consume.cpuPer100k, 'low', 3],
    ['consume CPU s/100k whole process', (r) => r.consume.processCpuPer100k, 'low', 3],
    ['group join ms', (r) => r.consume.joinMs, 'low', 0],
    ['consume max RSS MB', (r) => r.consume.maxRssMb, 'low', 0],
  ];
  const stat = (xs, better) => {
    const s = [...xs].sort((a, b) => a - b);
    const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    return {
      median,
      best: better === 'high' ? s[s.length - 1] : s[0],
      spread: (s[s.length - 1] - s[0]) / median,
    };
  };
  const rows = [];
  for (const [label, get, better, digits] of metrics) {
    const ours = runs.ours.map(get);
    const java = runs.java.map(get);
    const so = stat(ours, better);
    const sj = stat(java, better);
    const ratio = (a, b) => (Number.isFinite(a / b) ? `${fmt(a / b, 2)}×` : 'n/a');
    rows.push([
      `${label} median`,
      fmt(so.median, digits),
      fmt(sj.median, digits),
      ratio(so.median, sj.median),
    ]);
    rows.push(['  best', fmt(so.best, digits), fmt(sj.best, digits), ratio(so.best, sj.best)]);
    if (ours.length > 1) {
      rows.push([
        '  runs',
        ours.map((x) => fmt(x, digits)).join(' / '),
        java.map((x) => fmt(x, digits)).join(' / '),
        '',
      ]);
      rows.push(['  spread (max−min)/median', `${fmt(so.spread * 100)} %`, `${fmt(sj.spread * 100)} %`, '']);
    }
  }
  console.log(`\nmedian, best (highest throughput / lowest CPU, latency, memory) and each run in run order:`);
  printTable([['metric', 'ours', 'Java', 'ours/Java'], ...rows]);
  const jvm = stat(
    runs.jvmStart.map((r) => r.wallS),
    'low',
  );
  const jvmCpu = stat(
    runs.jvmStart.map((r) => r.cpuS),
    'low',
  );
  console.log(
    `JVM start (the tool's --version): ${fmt(jvm.median, 2)} s wall, ${fmt(jvmCpu.median, 2)} CPU s (medians); ` +
      `Java group commits at the end: ${runs.java.map((r) => fmt(r.committed)).join(' / ')}`,
  );
  const warned = Object.entries(runs.ours[0].produce.warnings ?? {})
    .concat(Object.entries(runs.ours[0].consume.warnings ?? {}))
    .map(([w, n]) => `${w} ×${n}`);
  if (warned.length > 0) console.log(`our children's process warnings (first run): ${warned.join(', ')}`);
  const javaErr = runs.java.flatMap((r) => [r.produce.stderr, r.consume.stderr]).filter(Boolean);
  if (javaErr.length > 0) {
    const lines = javaErr.join('\n').split('\n');
    console.log(
      `Java logged ${lines.length} line(s) at WARN or above, first: ${lines.slice(0, 3).join(' | ')}`,
    );
  }
  if (runs.ours.some((r) => r.consume.joinFromEvent === false)) {
    console.log('ours: no GROUP_JOIN event reachable; the first non-empty poll stood in for the join');
  }
  console.log(
    'events/s and MB/s: ours timed from the first send() to the last ack (connect and metadata included, like ' +
      "Java's first send), and from the group join to the last commit; Java as the tools report them (after " +
      'JVM start; consume = fetch.nMsg.sec, which excludes the join). MB/s = 10^6 B of key + value ' +
      `(${RECORD_BYTES} B a record on both sides). "incl. process start" = events / wall time of the whole ` +
      'process (Node or JVM start, connect, close). CPU = user + system: ours process.cpuUsage() over the timed ' +
      'phase; Java the whole JVM minus the CPU of a JVM start (the --version run), so it still counts class ' +
      'loading and JIT of the client; "whole process" rows count everything on both sides. Ack latency: Java\'s ' +
      'per-record send→callback; ours per send() call, weighted by its records. Ours runs without warm-up, like Java.',
  );
}

function packageVersion(pkg) {
  try {
    return require(`${pkg}/package.json`).version;
  } catch {
    return '?';
  }
}

function loadavgText() {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

// One line: the message, the causes and the first of aggregated errors (kafkajs nests them deeply).
function describeError(error) {
  const parts = [];
  for (let e = error; e && parts.length < 6; e = e.cause ?? e.errors?.[0]) parts.push(e.message || String(e));
  return parts.join(' ← ');
}
