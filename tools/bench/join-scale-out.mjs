// Join scale-out: a table join of two datagen sources on Kafka, run as one task on one node (the default) and
// partitioned (`partitioned: true`: repartition, join and resolve parts, each once per partition) on one node and
// on two nodes side by side.
//   node tools/bench/join-scale-out.mjs [--events 200000] [--keys 100000] [--runs 2] [--partitions 4]
//        [--batch-size 1000] [--brokers 127.0.0.1:59092]
// Needs the broker of tools/services (`node tools/services/cli.mjs up kafka`) and core, transport-kafka, the CLI,
// connector-datagen and processor-join built (node tools/bench/run.mjs join-scale-out builds them). The nodes are
// `mesh node start` child processes on 127.0.0.1.
//
// Step 1 (once, unmeasured): two datagen sources each write N order changes over K ids (orders and, as the table,
// "accounts"). Each run then measures every variant with a join stage of its own (its own topics and groups),
// joining orders with the account of the same id: the clock starts when the first node is spawned and stops when
// every consumer group of the join (one, or one per part) committed the end of its inputs, part by part. CPU is
// the sum over the nodes (from /proc).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { kafkaAdmin } from './postgres-cdc-peers.mjs';
import { checkKafka, datagenStage, fillWithDatagen, MeshNode, requireBuilt } from './lib/mesh-node.mjs';
import { intFlag, runBenchmark } from './lib/bench-cli.mjs';
import { fmt, printTable } from './lib/report.mjs';
import { machineText, median, ratioText } from './lib/run-figures.mjs';

const HELP = `Usage: node tools/bench/join-scale-out.mjs [options]   (or: node tools/bench/run.mjs join-scale-out [options])

A table join of two datagen sources on Kafka: the one-task join on one node beside the partitioned join on one node
and on two: events/s (both inputs), CPU µs per event (summed over the nodes).

Options:
  --events N       order changes of each source (default 200000)
  --keys N         ids both sources draw from, so most orders find their account (default 100000)
  --runs N         runs of each variant; the table shows medians and each run (default 2)
  --partitions N   partitions of every topic (default 4)
  --batch-size N   datagen changes per source batch (default 1000)
  --brokers LIST   Kafka bootstrap servers (default 127.0.0.1:59092, the services harness's broker)
  --help           this text
`;
const STALL_MS = 120_000;
const PARTS = ['by-join-key', 'matched', 'resolved'];
const VARIANTS = [
  { label: 'one task, 1 node', partitioned: false, nodes: 1 },
  { label: 'partitioned, 1 node', partitioned: true, nodes: 1 },
  { label: 'partitioned, 2 nodes', partitioned: true, nodes: 2 },
];

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    keys: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '2' },
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
    keys: int('keys'),
    runs: int('runs'),
    partitions: int('partitions', 2),
    batchSize: int('batch-size'),
    brokers: values.brokers.split(','),
  };
}

/** A datagen source over `keys` ids. */
function source(name, opts, seed) {
  const stage = datagenStage(name, { ...opts, seed });
  return { ...stage, config: { ...stage.config, keys: opts.keys } };
}

/** The pipeline of one measured variant: the filled sources (at their limit: they add nothing) and the join. */
function pipeline(name, sources, stage, partitioned) {
  const [orders, accounts] = sources;
  return {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name,
    sources,
    processors: [
      {
        name: stage,
        plugin: 'join',
        inputs: [`${orders.name}/orders`, `${accounts.name}/orders`],
        shared: true,
        config: {
          on: [{ left: 'id', right: 'id' }],
          kind: 'left',
          fields: ['status', 'amount_cents'],
          prefix: 'account_',
          partitioned,
        },
      },
    ],
  };
}

async function main() {
  const opts = options();
  requireBuilt(['core', 'transport-kafka', 'cli', 'connector-datagen', 'processor-join'], 'join-scale-out');
  await checkKafka(opts.brokers, 'start it with: node tools/services/cli.mjs up kafka');
  const work = await mkdtemp(join(tmpdir(), 'datamesh-bench-join-scale-out-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const log = (line) => console.log(line);
  try {
    console.log(machineText());
    const id = Date.now().toString(36);
    const name = `join-${id}`;
    const sources = [source(`orders-${id}`, opts, 1), source(`accounts-${id}`, opts, 2)];
    console.log(
      `${fmt(opts.events)} datagen changes per input over ${fmt(opts.keys)} ids, ${opts.partitions} partitions, ` +
        `left join of orders with accounts by id writing a topic, Kafka at ${opts.brokers.join(',')}`,
    );
    const inputs = [];
    // Filled under the measured pipeline's name: its sources resume at their limit and add nothing.
    for (const s of sources) {
      const filled = await fillWithDatagen({
        work,
        pipeline: { apiVersion: 'datamesh/v1', kind: 'Pipeline', name, sources: [s] },
        brokers: opts.brokers,
        partitions: opts.partitions,
        log,
      });
      console.log(`step 1: ${fmt(opts.events)} events in ${filled.topic} in ${fmt(filled.seconds, 1)} s`);
      inputs.push(filled.topic);
    }

    const results = VARIANTS.map(() => []);
    for (let run = 0; run < opts.runs; run++) {
      const order = VARIANTS.map((_, i) => i);
      if (run % 2 === 1) order.reverse();
      for (const v of order) {
        const variant = VARIANTS[v];
        const stage = `join-r${run + 1}-v${v + 1}`;
        const result = await measure(opts, work, {
          spec: pipeline(name, sources, stage, variant.partitioned),
          stage,
          variant,
          inputs,
        });
        results[v].push(result);
        console.log(
          `run ${run + 1} ${variant.label}: ${fmt(result.eventsPerSecond)} events/s, ` +
            `${fmt(result.cpuMicrosPerEvent, 1)} CPU µs/event, ${fmt(result.seconds, 1)} s`,
        );
      }
    }
    console.log('');
    const figures = [
      [
        'events/s (both inputs), first node spawned → every group committed its inputs',
        (r) => r.eventsPerSecond,
        0,
      ],
      ['CPU µs per event, summed over the nodes', (r) => r.cpuMicrosPerEvent, 1],
      ['wall s', (r) => r.seconds, 2],
    ];
    printTable([
      [
        'figure',
        ...VARIANTS.map((v) => v.label),
        'partitioned 2 nodes / one task',
        'runs (in the columns’ order)',
      ],
      ...figures.map(([label, get, digits]) => {
        const medians = results.map((rs) => median(rs.map(get)));
        return [
          label,
          ...medians.map((m) => fmt(m, digits)),
          ratioText(medians[2], medians[0]),
          results.map((rs) => rs.map((r) => fmt(get(r), digits)).join(' / ')).join(' | '),
        ];
      }),
    ]);
  } finally {
    await cleanup();
  }
}

/**
 * Runs the pipeline on the variant's nodes until every group of the join committed the end of its inputs: the
 * one task's group; or each part's, in order, an internal topic's end read once the part writing it is done.
 */
async function measure(opts, work, { spec, stage, variant, inputs }) {
  const groups = variant.partitioned
    ? [
        { group: `datamesh.${spec.name}.${stage}.${PARTS[0]}`, topics: [inputs[0]] },
        {
          group: `datamesh.${spec.name}.${stage}.${PARTS[1]}`,
          topics: [`__datamesh_part.${spec.name}.${stage}.${PARTS[0]}`, inputs[1]],
        },
        {
          group: `datamesh.${spec.name}.${stage}.${PARTS[2]}`,
          topics: [`__datamesh_part.${spec.name}.${stage}.${PARTS[1]}`],
        },
      ]
    : [{ group: `datamesh.${spec.name}.${stage}`, topics: inputs }];
  const admin = kafkaAdmin(opts.brokers);
  await admin.connect();
  const started = performance.now();
  const nodes = await Promise.all(
    Array.from({ length: variant.nodes }, (_, i) =>
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
    let done = 0;
    let last = -1;
    let progressedAt = performance.now();
    while (done < groups.length) {
      const { group, topics } = groups[done];
      const committed = await admin.fetchOffsets({ groupId: group, topics });
      let sum = 0;
      let caughtUp = true;
      for (const topic of topics) {
        // Every write is a transaction: each written partition ends in a commit marker, one past its last record.
        const ends = await admin.fetchTopicOffsets(topic);
        const at = new Map(
          (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
            p.partition,
            Number(p.offset),
          ]),
        );
        for (const p of ends) {
          const offset = at.get(p.partition) ?? -1;
          sum += Math.max(0, offset);
          if (Number(p.high) > 0 && offset < Number(p.high) - 1) caughtUp = false;
        }
      }
      if (caughtUp) {
        done += 1;
        continue;
      }
      if (sum !== last) [last, progressedAt] = [sum, performance.now()];
      if (performance.now() - progressedAt > STALL_MS)
        throw new Error(`${group}: no committed progress for ${STALL_MS / 1000} s (at ${fmt(sum)} offsets)`);
      await sleep(100);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = nodes.reduce((a, node) => a + node.usage().cpuSeconds, 0);
    return {
      seconds,
      eventsPerSecond: (2 * opts.events) / seconds,
      cpuMicrosPerEvent: (cpuSeconds * 1e6) / (2 * opts.events),
    };
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    await admin.disconnect();
  }
}

await runBenchmark(HELP, values, main);
