// Processor scale-out: a stateless chain (filter → projection) whose task writes a topic, over N datagen events on
// Kafka, run by one node and by two nodes side by side. The task runs once per input partition, so two nodes
// split the partitions between them (a co-partitioned consumer group), each instance committing its own
// transactions.
//   node tools/bench/processor-scale-out.mjs [--events 1000000] [--runs 3] [--partitions 4] [--batch-size 1000]
//        [--brokers 127.0.0.1:59092]
// Needs the broker of tools/services (`node tools/services/cli.mjs up kafka`) and core, transport-kafka, the CLI,
// connector-datagen, expression, filter and projection built (node tools/bench/run.mjs processor-scale-out builds
// them). The nodes are `mesh node start` child processes on 127.0.0.1.
//
// Step 1 (once, unmeasured): a node with only the datagen source writes N order changes. Each run then measures
// both variants (the order alternates between runs), each with a processor stage of its own (its own output topic
// and consumer group): the clock starts when the first node is spawned and stops when the group's committed input
// offsets reach the end of every input partition, so work a node did and a rebalance threw away is not counted.
// CPU is the sum over the nodes (from /proc).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { kafkaAdmin } from './postgres-cdc-peers.mjs';
import { checkKafka, datagenStage, fillWithDatagen, MeshNode, requireBuilt } from './lib/mesh-node.mjs';
import { intFlag, runBenchmark } from './lib/bench-cli.mjs';
import { fmt, printTable } from './lib/report.mjs';
import { figureRows, machineText } from './lib/run-figures.mjs';

const HELP = `Usage: node tools/bench/processor-scale-out.mjs [options]   (or: node tools/bench/run.mjs processor-scale-out [options])

A stateless chain writing a topic, over N datagen events on Kafka, run by two nodes and by one, side by side:
events/s, CPU µs per event (summed over the nodes).

Options:
  --events N       order changes from the datagen source (default 1000000; the nodes' start weighs on fewer)
  --runs N         runs of each variant; the table shows medians and each run (default 3)
  --partitions N   partitions of every topic (default 4)
  --batch-size N   datagen changes per source batch (default 1000)
  --brokers LIST   Kafka bootstrap servers (default 127.0.0.1:59092, the services harness's broker)
  --help           this text
`;
const STALL_MS = 90_000;

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '4' },
    'batch-size': { type: 'string', default: '1000' },
    brokers: { type: 'string', default: '127.0.0.1:59092' },
    help: { type: 'boolean', default: false },
  },
});

function options() {
  const int = (flag, min) => intFlag(values, flag, min);
  return {
    events: int('events'),
    runs: int('runs'),
    partitions: int('partitions', 2),
    batchSize: int('batch-size'),
    brokers: values.brokers.split(','),
  };
}

/** The pipeline of one measured variant: the filled source (at its limit: it adds nothing) and the chain. */
function pipeline(name, source, stage) {
  return {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name,
    sources: [source],
    processors: [
      {
        name: `${stage}-big`,
        plugin: 'filter',
        inputs: [`${source.name}/orders`],
        config: { condition: 'row.amount_cents >= 20000' },
      },
      {
        name: stage,
        plugin: 'projection',
        inputs: [`${stage}-big`],
        shared: true,
        config: {
          fields: [
            { name: 'id' },
            { name: 'customer' },
            { name: 'amount', expr: 'double(row.amount_cents) / 100.0' },
            { name: 'status' },
          ],
        },
      },
    ],
  };
}

async function main() {
  const opts = options();
  requireBuilt(
    [
      'core',
      'transport-kafka',
      'cli',
      'connector-datagen',
      'expression',
      'processor-filter',
      'processor-projection',
    ],
    'processor-scale-out',
  );
  await checkKafka(opts.brokers, 'start it with: node tools/services/cli.mjs up kafka');
  const work = await mkdtemp(join(tmpdir(), 'datamesh-bench-scale-out-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const log = (line) => console.log(line);
  try {
    console.log(machineText());
    const id = Date.now().toString(36);
    const name = `scale-${id}`;
    const source = datagenStage(`gen-${id}`, opts);
    console.log(
      `${fmt(opts.events)} datagen events, ${opts.partitions} partitions, chain filter → projection writing a topic, ` +
        `Kafka at ${opts.brokers.join(',')}`,
    );
    const filled = await fillWithDatagen({
      work,
      pipeline: { apiVersion: 'datamesh/v1', kind: 'Pipeline', name, sources: [source] },
      brokers: opts.brokers,
      partitions: opts.partitions,
      log,
    });
    console.log(`step 1: ${fmt(opts.events)} events in ${filled.topic} in ${fmt(filled.seconds, 1)} s`);
    // Every source batch is a transaction: each partition ends in a commit marker, one past its last record.
    const ends = new Map(
      filled.endOffsets.filter((p) => Number(p.high) > 0).map((p) => [p.partition, Number(p.high) - 1]),
    );

    const results = { 2: [], 1: [] };
    for (let run = 0; run < opts.runs; run++) {
      const order = run % 2 === 0 ? [2, 1] : [1, 2];
      for (const nodes of order) {
        const stage = `copy-r${run + 1}-n${nodes}`;
        const result = await measure(
          opts,
          work,
          pipeline(name, source, stage),
          stage,
          nodes,
          filled.topic,
          ends,
        );
        results[nodes].push(result);
        console.log(
          `run ${run + 1} ${nodes} node${nodes > 1 ? 's' : ' '}: ${fmt(result.eventsPerSecond)} events/s, ` +
            `${fmt(result.cpuMicrosPerEvent, 1)} CPU µs/event`,
        );
      }
    }
    console.log('');
    printTable([
      ['figure', '2 nodes', '1 node', '2 nodes/1 node', '2-node runs', '1-node runs'],
      ...figureRows(
        [
          ['events/s, first node spawned → every input offset committed', (r) => r.eventsPerSecond],
          ['CPU µs per event, summed over the nodes', (r) => r.cpuMicrosPerEvent, 1],
          ['wall s', (r) => r.seconds, 2],
        ],
        results[2],
        results[1],
      ),
    ]);
  } finally {
    await cleanup();
  }
}

/** Runs the pipeline on `count` nodes until the task's group committed every input offset. */
async function measure(opts, work, spec, stage, count, topic, ends) {
  const group = `datamesh.${spec.name}.${stage}`;
  const admin = kafkaAdmin(opts.brokers);
  await admin.connect();
  const started = performance.now();
  const nodes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      MeshNode.start({
        work,
        pipeline: spec,
        brokers: opts.brokers,
        partitions: opts.partitions,
        tag: `${stage}-node${i + 1}`,
        log: (line) => console.log(line),
      }),
    ),
  );
  try {
    let last = -1;
    let progressedAt = performance.now();
    for (;;) {
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      if ([...ends].every(([partition, end]) => (at.get(partition) ?? -1) >= end)) break;
      const sum = [...at.values()].reduce((a, b) => a + Math.max(0, b), 0);
      if (sum !== last) [last, progressedAt] = [sum, performance.now()];
      if (performance.now() - progressedAt > STALL_MS)
        throw new Error(`${stage}: no committed progress for ${STALL_MS / 1000} s (at ${fmt(sum)} offsets)`);
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = nodes.reduce((a, node) => a + node.usage().cpuSeconds, 0);
    return {
      seconds,
      eventsPerSecond: opts.events / seconds,
      cpuMicrosPerEvent: (cpuSeconds * 1e6) / opts.events,
    };
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    await admin.disconnect();
  }
}

await runBenchmark(HELP, values, main);
