// Processor fusion: the same chain of stateless processors (filter → projection → mask, or mask → mask → mask)
// over N events on the embedded transport, fused into the sink's task (the planner's default) and unfused (every
// stage before the last `shared: true`, so each hop is written to a topic and read back), side by side with the
// ratio.
//   node tools/bench/processor-fusion.mjs [--events 200000] [--runs 3] [--chain filter-projection-mask|mask]
//        [--partitions 4] [--batch-size 1000] [--cpu-prof-dir DIR]
// Needs core, connector-datagen and the chain's processors built (node tools/bench/run.mjs processor-fusion builds
// them). No service: everything runs in this machine's temp dir, the nodes' HTTP servers on 127.0.0.1.
//
// Step 1 (once, unmeasured): a node in this process with only the datagen source writes N order changes to
// `gen.orders`, then stops. Each run then measures both variants (the order alternates between runs), each in a
// child process of its own on a fresh copy of that data: a node with the same pipeline plus the chain and a sink
// that counts (the source is at its limit and adds nothing), timed from the node's start until the sink got every
// event the chain passes (known beforehand by replaying the datagen sequence).
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchSetupError, datagenStage, requireBuilt } from './lib/mesh-node.mjs';
import { fmt, printTable } from './lib/report.mjs';
import { figureRows, machineText } from './lib/run-figures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const PIPELINE = 'fusion';
const SOURCE = 'gen';
const STALL_MS = 60_000;

const HELP = `Usage: node tools/bench/processor-fusion.mjs [options]   (or: node tools/bench/run.mjs processor-fusion [options])

A chain of three processors over N datagen events on the embedded transport, fused into one task and unfused
(each hop through a topic), side by side: events/s, CPU µs per event, max RSS.

Options:
  --events N       order changes from the datagen source, all through the chain (default 200000)
  --chain C        filter-projection-mask (default) or mask (mask → mask → mask)
  --runs N         runs of each variant; the table shows medians and each run (default 3)
  --partitions N   partitions of every topic (default 4)
  --batch-size N   datagen changes per source batch (default 1000)
  --cpu-prof-dir D run the measured children under node --cpu-prof, profiles kept in D
  --help           this text
`;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '4' },
    'batch-size': { type: 'string', default: '1000' },
    chain: { type: 'string', default: 'filter-projection-mask' },
    'cpu-prof-dir': { type: 'string' },
    child: { type: 'string' }, // internal: fused | unfused, measured in this process, printing its JSON
    'data-dir': { type: 'string' }, // internal: the child's copy of step 1's data
    expected: { type: 'string' }, // internal: the events the sink must get
    help: { type: 'boolean', default: false },
  },
});

class UsageError extends BenchSetupError {}

function options() {
  const int = (flag) => {
    const n = Number(values[flag]);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be an integer ≥ 1`);
    return n;
  };
  if (!Object.hasOwn(CHAINS, values.chain)) {
    throw new UsageError(`--chain takes ${Object.keys(CHAINS).join(' or ')}`);
  }
  return {
    chain: CHAINS[values.chain],
    events: int('events'),
    runs: int('runs'),
    partitions: int('partitions'),
    batchSize: int('batch-size'),
    cpuProfDir: values['cpu-prof-dir'] === undefined ? undefined : resolve(values['cpu-prof-dir']),
  };
}

const KEEP_FROM_CENTS = 20_000;

/**
 * The chains: their stages in order, the packages (and plugin exports) they need, whether a datagen row passes
 * them, and what a row looks like after them.
 */
const CHAINS = {
  'filter-projection-mask': {
    stages: [
      // Drops about a fifth of the orders (amount_cents is uniform in 100…100 099).
      {
        name: 'big-orders',
        plugin: 'filter',
        config: { condition: `row.amount_cents >= ${KEEP_FROM_CENTS}` },
      },
      {
        name: 'billing-shape',
        plugin: 'projection',
        config: {
          fields: [
            { name: 'id' },
            { name: 'customer' },
            { name: 'email' },
            { name: 'amount', expr: 'double(row.amount_cents) / 100.0' },
            { name: 'status' },
          ],
        },
      },
      { name: 'mask-email', plugin: 'mask', config: { fields: ['email'], salt: 'bench' } },
    ],
    plugins: [
      ['expression', undefined],
      ['processor-filter', 'filterProcessor'],
      ['processor-projection', 'projectionProcessor'],
      ['processor-mask', 'maskProcessor'],
    ],
    passes: (row) => row.amount_cents >= KEEP_FROM_CENTS,
    shaped: (row) =>
      /^[0-9a-f]{64}$/.test(row.email) && typeof row.amount === 'number' && !('version' in row),
  },
  mask: {
    stages: [
      { name: 'mask-email', plugin: 'mask', config: { fields: ['email'], method: 'redact' } },
      { name: 'mask-customer', plugin: 'mask', config: { fields: ['customer'], method: 'redact' } },
      { name: 'mask-status', plugin: 'mask', config: { fields: ['status'], method: 'redact' } },
    ],
    plugins: [['processor-mask', 'maskProcessor']],
    passes: () => true,
    shaped: (row) => row.email === '***' && row.customer === '***' && row.status === '***',
  },
};

/** How many of the datagen stage's changes pass the chain: its sequence replayed with its own generator. */
async function expectedEvents(opts) {
  const { OrderGenerator } = await import(join(root, 'packages/connector-datagen/dist/index.js'));
  const { seed, keys } = datagenStage(SOURCE, opts).config;
  const generator = new OrderGenerator({ seed, keys, deleteRatio: 0.1 });
  let passing = 0;
  for (let i = 0; i < opts.events; i++) {
    const change = generator.next();
    if (opts.chain.passes(change.after ?? change.before)) passing++;
  }
  return passing;
}

function pipeline({ chain, events, batchSize }, variant) {
  const source = datagenStage(SOURCE, { events, batchSize });
  const stages = chain.stages;
  if (variant === 'fill')
    return { apiVersion: 'datamesh/v1', kind: 'Pipeline', name: PIPELINE, sources: [source] };
  return {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name: PIPELINE,
    sources: [source],
    processors: stages.map((stage, i) => ({
      ...stage,
      inputs: [i === 0 ? `${SOURCE}/orders` : stages[i - 1].name],
      // The last stage feeds the sink alone: fused into its task in both variants, as a pipeline would be.
      shared: variant === 'unfused' && i < stages.length - 1,
    })),
    sinks: [{ name: 'count', plugin: 'bench-count', inputs: [stages[stages.length - 1].name] }],
  };
}

if (values.help) {
  process.stdout.write(HELP);
} else if (values.child) {
  process.exitCode = await runChild(values.child, values['data-dir']).catch((error) => {
    console.error(error.stack ?? String(error));
    return 1;
  });
} else {
  process.exitCode = await main().catch((error) => {
    console.error(error instanceof BenchSetupError ? error.message : (error.stack ?? String(error)));
    return error instanceof UsageError ? 2 : 1;
  });
}

async function main() {
  const opts = options();
  requireBuilt(['core', 'connector-datagen', ...opts.chain.plugins.map(([pkg]) => pkg)], 'processor-fusion');
  const work = await mkdtemp(join(tmpdir(), 'datamesh-bench-fusion-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    console.log(machineText());
    console.log(
      `${fmt(opts.events)} datagen events, ${opts.partitions} partitions, chain ` +
        `${opts.chain.stages.map((s) => `${s.name} (${s.plugin})`).join(' → ')} → sink`,
    );
    const expected = await expectedEvents(opts);
    const filled = join(work, 'filled');
    const fillStarted = performance.now();
    await fill(opts, filled);
    console.log(
      `step 1: ${fmt(opts.events)} events in ${SOURCE}.orders in ${fmt((performance.now() - fillStarted) / 1000, 1)} s; ` +
        `${fmt(expected)} of them pass the chain`,
    );

    const results = { fused: [], unfused: [] };
    for (let run = 0; run < opts.runs; run++) {
      const order = run % 2 === 0 ? ['fused', 'unfused'] : ['unfused', 'fused'];
      for (const variant of order) {
        const dir = join(work, `run-${run + 1}-${variant}`);
        await cp(filled, dir, { recursive: true });
        const result = await child(variant, dir, opts, expected);
        await rm(dir, { recursive: true, force: true });
        results[variant].push(result);
        console.log(
          `run ${run + 1} ${variant.padEnd(7)}: ${fmt(result.eventsPerSecond)} events/s, ` +
            `${fmt(result.cpuMicrosPerEvent, 1)} CPU µs/event, ${result.tasks} consumer task(s), ${result.topics} intermediate topic(s)`,
        );
      }
    }
    console.log('');
    printTable([
      ['figure', 'fused', 'unfused', 'fused/unfused', 'fused runs', 'unfused runs'],
      ...figureRows(
        [
          ['events/s, node start → last event at the sink', (r) => r.eventsPerSecond],
          ['events/s, first → last event at the sink', (r) => r.steadyEventsPerSecond],
          ['CPU µs per event (process.cpuUsage)', (r) => r.cpuMicrosPerEvent, 1],
          ['CPU s', (r) => r.cpuSeconds, 2],
          ['wall s', (r) => r.seconds, 2],
          ['max RSS MB', (r) => r.maxRssMb],
        ],
        results.fused,
        results.unfused,
      ),
    ]);
  } finally {
    await cleanup();
  }
}

/** Runs one measured variant in a child process (this file with --child) and answers its figures. */
function child(variant, dataDir, opts, expected) {
  const args = [
    ...(opts.cpuProfDir
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          opts.cpuProfDir,
          '--cpu-prof-name',
          `${variant}-${Date.now()}.cpuprofile`,
        ]
      : []),
    fileURLToPath(import.meta.url),
    '--child',
    variant,
    '--data-dir',
    dataDir,
    '--chain',
    values.chain,
    '--expected',
    String(expected),
    '--events',
    String(opts.events),
    '--partitions',
    String(opts.partitions),
    '--batch-size',
    String(opts.batchSize),
  ];
  return new Promise((resolveRun, reject) => {
    const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    proc.on('close', (code, signal) => {
      if (code !== 0)
        reject(new Error(`${variant} run failed (${signal ?? `exit ${code}`}):\n${err.slice(-3000)}`));
      else resolveRun(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

async function core() {
  return import(join(root, 'packages/core/dist/index.js'));
}

async function startNode(opts, variant, dataDir, sink) {
  const {
    createLogger,
    EmbeddedTransport,
    MeshNode,
    NodeConfigSchema,
    parseConfig,
    planPipeline,
    PluginRegistry,
    SourceDocument,
  } = await core();
  const load = async (pkg, name) => (await import(join(root, `packages/${pkg}/dist/index.js`)))[name];
  const plugins = [await load('connector-datagen', 'datagenSource')];
  for (const [pkg, name] of opts.chain.plugins) if (name) plugins.push(await load(pkg, name));
  if (sink) plugins.push(sink);
  const registry = new PluginRegistry();
  for (const plugin of plugins) {
    registry.add({
      plugin,
      packageName: `bench:${plugin.name}`,
      packageVersion: plugin.version,
      packageDir: root,
    });
  }
  const plan = await planPipeline(
    SourceDocument.fromValue(pipeline(opts, variant), `${variant} pipeline`),
    registry,
  );
  const config = parseConfig(NodeConfigSchema, {
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    transport: { kind: 'embedded', partitions: opts.partitions },
  });
  const transport = await EmbeddedTransport.open({
    dir: join(dataDir, 'log'),
    fsync: config.transport.fsync,
  });
  const node = await MeshNode.start({
    config,
    plans: [plan],
    transport,
    logger: createLogger({ level: 'warn' }),
  });
  return { node, plan };
}

/** The sum of a node's counter over the series of one stage, or of every stage. */
async function stageCount(node, metric, stage) {
  const values = (await node.registry.getSingleMetric(metric)?.get())?.values ?? [];
  return values
    .filter((v) => stage === undefined || v.labels.stage === stage)
    .reduce((a, v) => a + v.value, 0);
}

/** Step 1: the datagen source alone writes its N events, and the node stops (storing the source's position). */
async function fill(opts, dataDir) {
  const { node } = await startNode(opts, 'fill', dataDir);
  try {
    let written = 0;
    let last = -1;
    let movedAt = performance.now();
    while ((written = await stageCount(node, 'datamesh_events_out_total', SOURCE)) < opts.events) {
      if (written !== last) [last, movedAt] = [written, performance.now()];
      if (performance.now() - movedAt > STALL_MS) throw new Error(`step 1 stalled at ${written} events`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await node.stop();
  }
}

async function runChild(variant, dataDir) {
  const opts = options();
  const expected = Number(values.expected);
  const { defineSink, Type } = await core();
  let received = 0;
  let firstAt;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  let checked = false;
  const sink = defineSink({
    name: 'bench-count',
    version: '0.0.0',
    config: Type.Object({}),
    create: () => ({
      async write(records) {
        if (!checked && records.length > 0) {
          checked = true;
          const after = records.find((r) => r.event.value?.after)?.event.value.after;
          if (after && !opts.chain.shaped(after)) {
            throw new Error(`the chain did not run: ${JSON.stringify(after)}`);
          }
        }
        firstAt ??= performance.now();
        received += records.length;
        if (received >= expected) resolveDone(performance.now());
      },
      async flush() {},
    }),
  });

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const { node, plan } = await startNode(opts, variant, dataDir, sink);
  let stalled;
  let last = -1;
  let movedAt = performance.now();
  const watchdog = setInterval(() => {
    if (received !== last) [last, movedAt] = [received, performance.now()];
    else if (performance.now() - movedAt > STALL_MS)
      stalled?.(new Error(`stalled at ${received} of ${expected}`));
  }, 1000);
  try {
    const doneAt = await Promise.race([done, new Promise((_, reject) => (stalled = reject))]);
    const seconds = (doneAt - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const dead = await stageCount(node, 'datamesh_dead_letters_total');
    const addedBySource = await stageCount(node, 'datamesh_events_out_total', SOURCE);
    if (received !== expected || dead > 0 || addedBySource > 0) {
      throw new Error(
        `expected ${expected} events at the sink: got ${received}, ${dead} dead letters, ${addedBySource} new from the source`,
      );
    }
    // Rates are per event read by the chain (N): a filter's dropped events cost work too.
    const result = {
      eventsPerSecond: opts.events / seconds,
      steadyEventsPerSecond: opts.events / ((doneAt - firstAt) / 1000),
      cpuSeconds,
      cpuMicrosPerEvent: (cpuSeconds / opts.events) * 1e6,
      seconds,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      tasks: plan.tasks.length,
      topics: plan.processors.filter((p) => p.output.materialized).length,
    };
    console.log(JSON.stringify(result));
  } finally {
    clearInterval(watchdog);
    await node.stop();
  }
  return 0;
}
