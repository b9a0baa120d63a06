// The Kafka client libraries we could put behind the Kafka transport, side by side against a real broker:
// produce throughput and CPU (idempotent producer, acks=all), consume throughput and CPU (consumer group from
// the beginning, manual commit at the end) and the CPU an idle, connected producer + caught-up consumer burn.
//   node tools/bench/kafka-clients.mjs [--messages 200000] [--size 256] [--runs 3] [--idle-seconds 10]
//        [--batch 1000] [--in-flight 4] [--partitions 4] [--brokers 127.0.0.1:59092]
//        [--candidates kafkajs,kafkajs-idle-fix,platformatic]
// Needs the broker of tools/services (`node tools/services/cli.mjs up kafka`). Each candidate runs in its own
// child process (this file, with --candidate <name>), so the CPU figures of one library do not include another's.
import { printTable } from './lib/report.mjs';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(join(root, 'package.json'));

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '10' },
    batch: { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '4' },
    partitions: { type: 'string', default: '4' },
    brokers: { type: 'string', default: '127.0.0.1:59092' },
    candidates: { type: 'string' },
    candidate: { type: 'string' }, // internal: run one candidate in this process and print its JSON
    run: { type: 'string', default: '1' }, // internal
  },
});
const opts = {
  messages: Number(values.messages),
  size: Number(values.size),
  runs: Number(values.runs),
  idleSeconds: Number(values['idle-seconds']),
  batch: Number(values.batch),
  inFlight: Number(values['in-flight']),
  partitions: Number(values.partitions),
  brokers: values.brokers.split(','),
};
for (const [name, v] of Object.entries(opts)) {
  if (typeof v === 'number' && !(Number.isInteger(v) && v > 0)) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}
const KEY_BYTES = 10; // `k-` + 8 digits
const RESULT_PREFIX = '@@kafka-clients-result ';

// ---------------------------------------------------------------------------------------------------------------
// Candidates. `driver` is loaded in the child only; `unavailable` explains a candidate that cannot run here.

const CANDIDATES = {
  kafkajs: { pkg: 'kafkajs', label: 'kafkajs (stock)', driver: () => kafkajsDriver({ idleFix: false }) },
  'kafkajs-idle-fix': {
    pkg: 'kafkajs',
    label: 'kafkajs + idle fix',
    driver: () => kafkajsDriver({ idleFix: true }),
  },
  platformatic: {
    pkg: '@platformatic/kafka',
    label: '@platformatic/kafka',
    driver: () => platformaticDriver(),
  },
  confluent: {
    pkg: '@confluentinc/kafka-javascript',
    label: '@confluentinc/kafka-javascript',
    unavailable:
      'not installable here: its prebuilt binary is downloaded from github.com (ENOTFOUND in this sandbox) and ' +
      'the build-from-source fallback downloads the zlib/openssl/zstd/curl sources',
  },
};

function packageVersion(pkg) {
  try {
    // @platformatic/kafka exports only its dist entry, so walk up from it to its package.json.
    let dir = dirname(require.resolve(pkg));
    for (;;) {
      try {
        const json = require(join(dir, 'package.json'));
        if (json.name === pkg) return json.version;
      } catch {
        // no package.json here
      }
      const up = dirname(dir);
      if (up === dir) return null;
      dir = up;
    }
  } catch {
    return null;
  }
}

if (values.candidate) {
  await runChild(values.candidate, Number(values.run)).catch((error) => {
    console.error(`${values.candidate}: ${describeError(error)}`);
    process.exit(1);
  });
} else {
  await runParent();
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: environment, one child per candidate per run (interleaved, so drift of the machine's load spreads over
// all candidates), then the tables.

async function runParent() {
  const selected = values.candidates ? values.candidates.split(',') : Object.keys(CANDIDATES);
  const unknown = selected.filter((c) => !CANDIDATES[c]);
  if (unknown.length > 0) {
    console.error(`unknown candidate ${unknown.join(', ')}; known: ${Object.keys(CANDIDATES).join(', ')}`);
    process.exit(2);
  }
  const columns = selected.map((name) => {
    const c = CANDIDATES[name];
    const version = packageVersion(c.pkg);
    let unavailable = c.unavailable && !version ? c.unavailable : null;
    if (c.unavailable && version) unavailable = `installed (${version}), but this bench has no driver for it`;
    if (!c.unavailable && !version) unavailable = `not installed (${c.pkg})`;
    return { name, label: c.label, pkg: c.pkg, version, unavailable, runs: [] };
  });

  const broker = brokerVersion();
  console.log(
    `${fmt(opts.messages)} messages of ${opts.size} B value + ${KEY_BYTES} B key, ${fmt(opts.batch)} per send call, ` +
      `up to ${opts.inFlight} calls in flight, idempotent producer, acks=all, no compression, ` +
      `fresh topics of ${opts.partitions} partitions; idle window ${opts.idleSeconds} s; ${opts.runs} run(s) per candidate`,
  );
  console.log(
    `node ${process.version}, ${broker}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  for (const c of columns) {
    console.log(`  ${c.label.padEnd(32)} ${c.unavailable ?? `${c.pkg} ${c.version}`}`);
  }

  const runnable = columns.filter((c) => !c.unavailable);
  let failed = 0;
  for (let run = 1; run <= opts.runs; run++) {
    for (const c of runnable) {
      const started = performance.now();
      const result = await spawnChild(c.name, run);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (result.error) {
        failed++;
        console.log(`run ${run} ${c.label}: FAILED after ${seconds} s: ${result.error}`);
        continue;
      }
      c.runs.push(result);
      console.log(
        `run ${run} ${c.label.padEnd(20)} produce ${fmt(result.produce.msgPerSec).padStart(7)} msg/s, ` +
          `consume ${fmt(result.consume.msgPerSec).padStart(7)} msg/s, idle ${fmt(result.idle.cpuMsPerSec, 1)} CPU ms/s ` +
          `(${seconds} s)`,
      );
    }
  }
  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  if (runnable.some((c) => c.runs.length > 0)) printTables(columns);
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
  return `${line.match(/Kafka \S+/)?.[0] ?? 'Kafka ?'} (KRaft, single node) at ${values.brokers}`;
}

function spawnChild(name, run) {
  // --expose-gc: the child collects garbage before the idle window, so the window does not pay for the load before.
  const args = ['--expose-gc', fileURLToPath(import.meta.url), '--candidate', name, '--run', String(run)];
  for (const k of ['messages', 'size', 'idle-seconds', 'batch', 'in-flight', 'partitions', 'brokers']) {
    args.push(`--${k}`, values[k]);
  }
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    const limit = 60_000 + opts.idleSeconds * 1000 + opts.messages * 0.5; // generous; only for a hung run
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) resolveRun(JSON.parse(line.slice(RESULT_PREFIX.length)));
      else
        resolveRun({
          error: `${signal ?? `exit ${code}`}${out.trim() ? `: ${out.trim().slice(-500)}` : ''}`,
        });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Child: one candidate, one run.

async function runChild(name, run) {
  // Count timer callbacks (setTimeout/setInterval through the globals, which both libraries use) from the
  // start, so timers created at connect time are seen too. The wrapper costs one closure per timer.
  const timerFires = { timeout: 0, interval: 0 };
  const realSetTimeout = globalThis.setTimeout;
  const realSetInterval = globalThis.setInterval;
  const sleep = (ms) => new Promise((r) => realSetTimeout(r, ms));
  globalThis.setTimeout = function setTimeout(fn, ms, ...args) {
    if (typeof fn !== 'function') return realSetTimeout(fn, ms, ...args);
    return realSetTimeout(
      function countedTimeout(...a) {
        timerFires.timeout++;
        return fn.apply(this, a);
      },
      ms,
      ...args,
    );
  };
  globalThis.setInterval = function setInterval(fn, ms, ...args) {
    if (typeof fn !== 'function') return realSetInterval(fn, ms, ...args);
    return realSetInterval(
      function countedInterval(...a) {
        timerFires.interval++;
        return fn.apply(this, a);
      },
      ms,
      ...args,
    );
  };
  const warnings = {};
  process.removeAllListeners('warning');
  process.on('warning', (w) => (warnings[w.name] = (warnings[w.name] ?? 0) + 1));

  const candidate = CANDIDATES[name];
  const driver = await candidate.driver();
  const id = `${name}-${process.pid}-${Date.now().toString(36)}`;
  const topic = `bench-kafka-clients-${id}`;
  const warmupTopic = `${topic}-warmup`;
  const groupId = `bench-kafka-clients-${id}`;
  const N = opts.messages;

  const keys = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`k-${String(i).padStart(8, '0')}`));
  const valuePool = Array.from({ length: 1024 }, (_, i) => {
    const v = Buffer.alloc(opts.size);
    for (let j = 0; j < opts.size; j++) v[j] = 32 + ((i * 31 + j * 7) % 95);
    return v;
  });
  // All batches built before the clock starts, in the shape each library takes, so only the library is measured.
  const buildBatches = (count, topicName) => {
    const batches = [];
    for (let from = 0; from < count; from += opts.batch) {
      const batch = [];
      for (let i = from; i < Math.min(count, from + opts.batch); i++) {
        batch.push(driver.message(topicName, keys[i % keys.length], valuePool[i % valuePool.length]));
      }
      batches.push(batch);
    }
    return batches;
  };

  await driver.createTopics(opts.brokers, [topic, warmupTopic], opts.partitions);
  const producer = await driver.producer(opts.brokers);
  let consumer = null;
  try {
    // Unmeasured warm-up of the producer path, so the measured round runs JIT-compiled code.
    await produceAll(producer, buildBatches(Math.min(20_000, N), warmupTopic), warmupTopic);

    let batches = buildBatches(N, topic);
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    await produceAll(producer, batches, topic);
    const produceMs = performance.now() - t0;
    const produceCpu = cpuSeconds(cpu0);
    batches = null;

    t0 = performance.now();
    cpu0 = process.cpuUsage();
    consumer = await driver.consumer(opts.brokers, groupId, topic, N);
    const consumed = await consumer.done; // { joinedAt, joinedCpu, doneAt, doneCpu, count }
    // Timed from the group join (the client's join event), so the join itself is reported apart.
    const joinedAt = consumed.joinedAt ?? t0;
    const consume = {
      joinMs: joinedAt - t0,
      ms: consumed.doneAt - joinedAt,
      cpu: cpuSeconds(consumed.joinedCpu ?? cpu0, consumed.doneCpu),
    };
    if (consumed.count !== N) throw new Error(`consumed ${consumed.count} messages, expected ${N}`);

    // Idle: the producer stays connected, the consumer stays subscribed and caught up (long-polling fetches,
    // heartbeats). A full GC and one second to settle after the final commit, then the measured window.
    globalThis.gc?.();
    await sleep(1000);
    const timers0 = { ...timerFires };
    cpu0 = process.cpuUsage();
    t0 = performance.now();
    await sleep(opts.idleSeconds * 1000);
    const idleWallS = (performance.now() - t0) / 1000;
    const idleCpu = cpuSeconds(cpu0);
    const idleTimers = timerFires.timeout - timers0.timeout + timerFires.interval - timers0.interval;
    globalThis.gc?.();
    const heapMb = process.memoryUsage().heapUsed / 1e6;

    // The idempotent producer wrote each message once, and the manual commit landed: sums over the partitions.
    const { end, committed } = await consumer.offsets(topic);
    if (end !== N) throw new Error(`the topic holds ${end} messages, expected ${N}`);
    if (committed !== N)
      throw new Error(`the group committed offsets summing to ${committed}, expected ${N}`);

    const payloadMb = (N * (KEY_BYTES + opts.size)) / 1e6;
    const result = {
      candidate: name,
      run,
      produce: {
        msgPerSec: N / (produceMs / 1000),
        mbPerSec: payloadMb / (produceMs / 1000),
        cpuPer100k: produceCpu / (N / 100_000),
        seconds: produceMs / 1000,
      },
      consume: {
        msgPerSec: N / (consume.ms / 1000),
        mbPerSec: payloadMb / (consume.ms / 1000),
        cpuPer100k: consume.cpu / (N / 100_000),
        seconds: consume.ms / 1000,
        joinMs: consume.joinMs,
      },
      idle: {
        cpuMsPerSec: (idleCpu * 1000) / idleWallS,
        timersPerSec: idleTimers / idleWallS,
        heapMb,
      },
      warnings,
    };
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  } finally {
    await consumer?.close().catch((e) => console.error(`closing the ${name} consumer: ${e.message}`));
    await producer.close().catch((e) => console.error(`closing the ${name} producer: ${e.message}`));
    await driver
      .cleanup(opts.brokers, [topic, warmupTopic], groupId)
      .catch((e) => console.error(`cleaning up after ${name}: ${e.message}`));
  }
  process.exit(0);
}

// CPU seconds (user + system) between two absolute process.cpuUsage() readings.
function cpuSeconds(from, to = process.cpuUsage()) {
  return (to.user + to.system - from.user - from.system) / 1e6;
}

// Up to opts.inFlight send calls at a time, each awaited before its worker takes the next batch.
async function produceAll(producer, batches, topic) {
  let next = 0;
  const worker = async () => {
    while (next < batches.length) await producer.send(topic, batches[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(opts.inFlight, batches.length) }, worker));
}

// ---------------------------------------------------------------------------------------------------------------
// kafkajs 2.x. With idleFix, RequestQueue#scheduleCheckPendingRequests schedules nothing when no request is
// pending and the connection is not throttled (see the comment below).

async function kafkajsDriver({ idleFix }) {
  const { Kafka, logLevel, Partitioners, CompressionTypes } = require('kafkajs');
  if (idleFix) {
    // kafkajs 2.2.4: fulfillRequest() → checkPendingRequests() → scheduleCheckPendingRequests(), which, with
    // nothing pending and no throttle, calls setTimeout(…, throttledUntil - Date.now()) — negative, clamped to
    // 1 ms by Node — whose callback calls checkPendingRequests() again: a 1 kHz timer per connection forever.
    // With nothing pending there is nothing to drain: push() sends at once or queues and reschedules,
    // fulfillRequest() re-checks the queue, so skipping the timer here loses nothing. A pending queue or an
    // active throttle still goes to the original (10 ms re-check / wake-up when the throttle ends).
    const RequestQueue = require('kafkajs/src/network/requestQueue/index.js');
    const original = RequestQueue.prototype.scheduleCheckPendingRequests;
    RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests() {
      if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
      return original.call(this);
    };
  }
  // No logging: errors surface as rejections, and the connection retries would flood the output.
  const client = (brokers) => new Kafka({ clientId: 'datamesh-bench', brokers, logLevel: logLevel.NOTHING });
  const withAdmin = async (brokers, fn) => {
    const admin = client(brokers).admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  };
  return {
    message: (_topic, key, value) => ({ key, value }),
    createTopics: (brokers, topics, partitions) =>
      withAdmin(brokers, (admin) =>
        admin.createTopics({
          topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
          waitForLeaders: true,
        }),
      ),
    async producer(brokers) {
      const producer = client(brokers).producer({
        idempotent: true, // kafkajs then serialises produce requests per broker (one in flight)
        createPartitioner: Partitioners.DefaultPartitioner, // murmur2 as in the Java client
      });
      await producer.connect();
      return {
        send: (topic, messages) =>
          producer.send({ topic, messages, acks: -1, compression: CompressionTypes.None }),
        close: () => producer.disconnect(),
      };
    },
    async consumer(brokers, groupId, topic, expected) {
      const kafka = client(brokers);
      const consumer = kafka.consumer({ groupId });
      let joinedAt = null;
      let joinedCpu = null;
      consumer.on(consumer.events.GROUP_JOIN, () => {
        joinedAt ??= performance.now();
        joinedCpu ??= process.cpuUsage();
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const last = new Map(); // partition → last offset (string)
      let count = 0;
      let finish;
      const done = new Promise((r) => (finish = r));
      // eachBatch, autoCommit off: the shape of a sink that commits after its own flush.
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          count += batch.messages.length;
          if (batch.messages.length > 0) last.set(batch.partition, batch.lastOffset());
          if (count >= expected) finish();
        },
      });
      return {
        done: done.then(async () => {
          await consumer.commitOffsets(
            [...last].map(([partition, offset]) => ({
              topic,
              partition,
              offset: String(BigInt(offset) + 1n),
            })),
          );
          return { joinedAt, joinedCpu, doneAt: performance.now(), doneCpu: process.cpuUsage(), count };
        }),
        offsets: (t) =>
          withAdmin(brokers, async (admin) => ({
            end: (await admin.fetchTopicOffsets(t)).reduce((sum, p) => sum + Number(p.high), 0),
            committed: (await admin.fetchOffsets({ groupId, topics: [t] }))[0].partitions.reduce(
              (sum, p) => sum + Math.max(0, Number(p.offset)),
              0,
            ),
          })),
        close: () => consumer.disconnect(),
      };
    },
    async cleanup(brokers, topics, groupId) {
      await withAdmin(brokers, async (admin) => {
        await admin.deleteGroups([groupId]).catch(() => {});
        await admin.deleteTopics({ topics });
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// @platformatic/kafka 2.x.

async function platformaticDriver() {
  const { Admin, Consumer, Producer } = await import('@platformatic/kafka');
  const withAdmin = async (brokers, fn) => {
    const admin = new Admin({ clientId: 'datamesh-bench', bootstrapBrokers: brokers });
    try {
      return await fn(admin);
    } finally {
      await admin.close();
    }
  };
  return {
    message: (topic, key, value) => ({ topic, key, value }),
    createTopics: (brokers, topics, partitions) =>
      withAdmin(brokers, (admin) => admin.createTopics({ topics, partitions, replicas: 1 })),
    async producer(brokers) {
      const producer = new Producer({
        clientId: 'datamesh-bench',
        bootstrapBrokers: brokers,
        idempotent: true, // forces maxInflights 1 per connection and acks=all
        acks: -1,
        compression: 'none',
        autocreateTopics: false,
      });
      await producer.initIdempotentProducer({});
      return {
        send: (_topic, messages) => producer.send({ messages }),
        close: () => producer.close(),
      };
    },
    async consumer(brokers, groupId, topic, expected) {
      const consumer = new Consumer({
        clientId: 'datamesh-bench',
        bootstrapBrokers: brokers,
        groupId,
        autocommit: false, // each message then carries a commit() (offset + 1), merged per partition
      });
      let joinedAt = null;
      let joinedCpu = null;
      consumer.on('consumer:group:join', () => {
        joinedAt ??= performance.now();
        joinedCpu ??= process.cpuUsage();
      });
      const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
      const last = new Map(); // partition → last message
      let count = 0;
      let finish;
      const done = new Promise((r, reject) => {
        finish = r;
        stream.on('error', reject);
      });
      stream.on('data', (message) => {
        count++;
        last.set(message.partition, message);
        if (count === expected) finish();
      });
      return {
        done: done.then(async () => {
          await Promise.all([...last.values()].map((m) => m.commit()));
          return { joinedAt, joinedCpu, doneAt: performance.now(), doneCpu: process.cpuUsage(), count };
        }),
        async offsets(t) {
          const sum = (map) =>
            [...map.values()].flat().reduce((total, o) => total + Math.max(0, Number(o)), 0);
          const partitions = Array.from({ length: opts.partitions }, (_, i) => i);
          return {
            end: sum(await consumer.listOffsets({ topics: [t] })),
            committed: sum(await consumer.listCommittedOffsets({ topics: [{ topic: t, partitions }] })),
          };
        },
        async close() {
          await stream.close();
          await consumer.close();
        },
      };
    },
    async cleanup(brokers, topics, groupId) {
      await withAdmin(brokers, async (admin) => {
        await admin.deleteGroups({ groups: [groupId] }).catch(() => {});
        await admin.deleteTopics({ topics });
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output.

function printTables(columns) {
  const withRuns = columns.filter((c) => c.runs.length > 0);
  const metrics = [
    ['produce msg/s', (r) => r.produce.msgPerSec, 'high', 0],
    ['produce MB/s', (r) => r.produce.mbPerSec, 'high', 1],
    ['produce CPU s/100k', (r) => r.produce.cpuPer100k, 'low', 2],
    ['consume msg/s', (r) => r.consume.msgPerSec, 'high', 0],
    ['consume MB/s', (r) => r.consume.mbPerSec, 'high', 1],
    ['consume CPU s/100k', (r) => r.consume.cpuPer100k, 'low', 2],
    ['group join ms', (r) => r.consume.joinMs, 'low', 0],
    ['idle CPU ms/s', (r) => r.idle.cpuMsPerSec, 'low', 1],
    ['idle timer fires/s', (r) => r.idle.timersPerSec, 'low', 1],
    ['heap after idle+GC MB', (r) => r.idle.heapMb, 'low', 1],
  ];
  const header = ['metric', ...columns.map((c) => c.label)];
  const rows = [];
  for (const [label, get, better, digits] of metrics) {
    const stats = columns.map((c) => {
      const xs = c.runs.map(get).sort((a, b) => a - b);
      if (xs.length === 0) return null;
      const median =
        xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2;
      const best = better === 'high' ? xs[xs.length - 1] : xs[0];
      return { median, best };
    });
    const cell = (c, i, f, first = false) =>
      c.unavailable ? (first ? 'n/a' : '') : stats[i] ? f(stats[i]) : 'failed';
    rows.push([`${label} median`, ...columns.map((c, i) => cell(c, i, (s) => fmt(s.median, digits), true))]);
    rows.push([`  best`, ...columns.map((c, i) => cell(c, i, (s) => fmt(s.best, digits)))]);
    rows.push([
      `  runs`,
      ...columns.map((c, i) => cell(c, i, () => c.runs.map((r) => fmt(get(r), digits)).join(' / '))),
    ]);
  }
  console.log(`\nmedian, best (highest throughput / lowest CPU) and each run in run order:`);
  printTable([header, ...rows]);
  for (const c of columns.filter((c) => c.unavailable)) console.log(`${c.label}: ${c.unavailable}`);
  const warned = withRuns.flatMap((c) =>
    Object.entries(c.runs[0].warnings).map(([w, n]) => `${c.label}: ${w} ×${n} (first run)`),
  );
  if (warned.length > 0) console.log(`process warnings: ${warned.join('; ')}`);
  console.log(
    "MB/s counts key + value bytes (10^6 B). CPU = process.cpuUsage() user+system of the candidate's own process. " +
      'Consume is timed from the group join to the last message plus the final commit; join ms from creating the ' +
      'consumer. Idle = connected producer + caught-up consumer, nothing to do; timer fires = setTimeout/setInterval ' +
      'callbacks run per second; heap = V8 heapUsed after a full GC at the end of the idle window.',
  );
}

// One line: the message, the causes and the first of aggregated errors (both libraries nest them deeply).
function describeError(error) {
  const parts = [];
  for (let e = error; e && parts.length < 6; e = e.cause ?? e.errors?.[0]) parts.push(e.message || String(e));
  return parts.join(' ← ');
}

function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
