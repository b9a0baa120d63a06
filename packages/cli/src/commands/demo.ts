import { Flags } from '@oclif/core';
import { stat, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import {
  METRIC,
  NodeConfigSchema,
  SourceDocument,
  createLogger,
  parseConfig,
  planPipeline,
  type Logger,
  type NodeConfig,
  type PluginRegistry,
} from '@datamesh/core';
import { MeshCommand } from '../base-command.js';
import { demoPipeline, demoPostgresPipeline } from '../demo-pipeline.js';
import { openEmbeddedLog } from '../embedded-log.js';
import {
  EmbeddedPostgresError,
  removeEmbeddedPostgres,
  startEmbeddedPostgres,
  type RunningPostgres,
} from '../embedded-postgres.js';
import { metricSum } from '../metric-reader.js';
import { runNode, type RunningNode } from '../node-runner.js';
import { OutputTally } from '../output-tally.js';
import {
  SHOP_DATABASE,
  SHOP_TABLES,
  ShopWorkload,
  ensureShopDatabase,
  ensureShopSchema,
} from '../shop-workload.js';

const DEFAULTS = {
  datagen: { dataDir: '.datamesh/demo', rate: 1000 },
  postgres: { dataDir: '.datamesh/demo-postgres', rate: 100 },
} as const;

/** What both kinds of demo run with. */
interface DemoContext {
  readonly dataDir: string;
  /** The data dir as given (relative or not), for the hints printed. */
  readonly dataDirFlag: string;
  readonly rate: number;
  readonly duration: number | undefined;
  readonly kafka: string | undefined;
  readonly postgresPort: number;
  readonly registry: PluginRegistry;
  readonly config: NodeConfig;
  readonly logger: Logger;
}

const overWhat = (kafka: string | undefined) => (kafka ? `Kafka at ${kafka}` : 'the embedded log');

export default class Demo extends MeshCommand {
  static override summary = 'Run a demo pipeline on the embedded transport, no external service needed.';
  static override description =
    'Generates order changes (datagen source), hashes their e-mail addresses (mask processor, fused into the sink ' +
    'task) and appends them to a JSON Lines file (file sink), over the embedded durable log. A progress line shows ' +
    'events flowing; Ctrl-C drains and stops cleanly. Run it again and it resumes where it stopped.\n\n' +
    'With --source postgres it captures changes from a throw-away PostgreSQL 18 instead (the embedded-postgres ' +
    'package, on 127.0.0.1, kept in <data-dir>/postgres): a schema "shop" with customers and orders is seeded ' +
    'on first start, read by a snapshot, then followed over logical replication while a workload inserts, ' +
    'updates and deletes rows at --rate changes per second. Customers’ e-mail addresses are masked; both tables ' +
    'land in one JSON Lines file. Ctrl-C stops the workload, drains the node, then stops Postgres. Run as root, ' +
    'Postgres runs as the "postgres" system user (created when missing), who must be able to reach the data dir.';
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --rate 5000 --duration 10',
    '<%= config.bin %> demo --fresh',
    '<%= config.bin %> demo --kafka 127.0.0.1:9092',
    '<%= config.bin %> demo --source postgres',
    '<%= config.bin %> demo --source postgres --rate 20 --duration 30 --fresh',
  ];
  static override flags = {
    source: Flags.string({
      options: ['datagen', 'postgres'],
      default: 'datagen',
      description:
        'Where changes come from: generated orders (datagen), or a throw-away PostgreSQL with a workload (postgres).',
    }),
    'data-dir': Flags.string({
      char: 'd',
      description: `Where the demo keeps its log, state and output (default: ${DEFAULTS.datagen.dataDir}; ${DEFAULTS.postgres.dataDir} with --source postgres, Postgres's cluster included).`,
    }),
    rate: Flags.integer({
      char: 'r',
      min: 0,
      description: `Changes per second: generated orders, or the Postgres workload's statements (default: ${DEFAULTS.datagen.rate}; ${DEFAULTS.postgres.rate} with --source postgres; 0: as fast as possible).`,
    }),
    duration: Flags.integer({
      description: 'Stop after this many seconds (default: run until Ctrl-C).',
      min: 1,
    }),
    port: Flags.integer({
      default: 0,
      min: 0,
      max: 65535,
      description: 'Port of /metrics and /health (0 picks a free one).',
    }),
    'postgres-port': Flags.integer({
      default: 0,
      min: 0,
      max: 65535,
      description: 'With --source postgres: the port of its server on 127.0.0.1 (0 picks a free one).',
    }),
    fresh: Flags.boolean({
      description:
        'Delete the demo’s data dir first, Postgres’s cluster included (on Kafka its topics stay: positions and offsets too).',
    }),
    kafka: Flags.string({
      description:
        'Run over a Kafka cluster instead of the embedded log: its bootstrap brokers, comma-separated host:port.',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo);
    const source = flags.source === 'postgres' ? 'postgres' : 'datagen';
    if (source === 'postgres' && flags.kafka && flags.fresh) {
      this.error(
        '--fresh with --kafka and --source postgres would start a new Postgres while the source’s position stays ' +
          'in Kafka, pointing into the old one’s log; drop --fresh, or use a Kafka cluster without the demo’s topics',
        { exit: 2 },
      );
    }
    const dataDirFlag = flags['data-dir'] ?? DEFAULTS[source].dataDir;
    const dataDir = resolve(dataDirFlag);
    const rate = flags.rate ?? DEFAULTS[source].rate;
    if (flags.fresh) {
      // Not from under a demo still running there: opening the log fails while another process holds it.
      if (await isDirectory(join(dataDir, 'log'))) await (await openEmbeddedLog(dataDir)).close();
      await this.postgresStep(() => removeEmbeddedPostgres(dataDir));
      await rm(dataDir, { recursive: true, force: true });
    }
    const registry = await this.registry(flags['plugin-dir'] ?? []);
    const missing = [`source:${source}`, 'processor:mask', 'sink:file'].filter((id) => {
      const [kind, name] = id.split(':') as ['source' | 'processor' | 'sink', string];
      return !registry.find(kind, name);
    });
    if (missing.length > 0) {
      this.error(
        `the demo needs the plugins ${missing.join(', ')}; build the workspace first (npm run build) or install them with mesh plugins install`,
        {
          exit: 1,
        },
      );
    }
    const config = parseConfig(NodeConfigSchema, {
      apiVersion: 'datamesh/v1',
      kind: 'Node',
      dataDir,
      http: { host: '127.0.0.1', port: flags.port },
      log: { level: 'warn' },
      ...(flags.kafka
        ? { transport: { kind: 'kafka', kafka: { brokers: flags.kafka.split(',').map((b) => b.trim()) } } }
        : {}),
    });
    const context: DemoContext = {
      dataDir,
      dataDirFlag,
      rate,
      duration: flags.duration,
      kafka: flags.kafka,
      postgresPort: flags['postgres-port'],
      registry,
      config,
      logger: createLogger({ level: config.log.level }),
    };
    await (source === 'datagen' ? this.runDatagen(context) : this.runPostgres(context));
  }

  /** Generated orders -> mask -> file. */
  private async runDatagen(context: DemoContext): Promise<void> {
    const { dataDir, dataDirFlag, rate, duration, kafka, registry, config, logger } = context;
    const outFile = join(dataDir, 'out', 'orders.jsonl');
    const plan = await planPipeline(
      SourceDocument.fromValue(demoPipeline({ rate, outFile }), 'demo pipeline'),
      registry,
    );
    const running = await runNode(config, [plan], logger);
    this.log(`datamesh demo: orders -> mask-emails -> ${outFile} (over ${overWhat(kafka)})`);
    this.log(`metrics ${running.node.url}/metrics · health ${running.node.url}/health · Ctrl-C to stop`);
    const count = async () => ({
      generated: await metricSum(running.node.registry, METRIC.eventsOut, {
        pipeline: 'demo',
        stage: 'orders',
      }),
      written: await metricSum(running.node.registry, METRIC.eventsOut, {
        pipeline: 'demo',
        stage: 'orders-file',
      }),
      lag: await metricSum(running.node.registry, METRIC.inputLagEvents, { pipeline: 'demo' }),
    });
    const { seconds, final } = await this.watch(running, duration, outFile, count, (now, perSecond, kib) =>
      [
        `events: generated ${now.generated}`,
        `written ${now.written} (${perSecond}/s)`,
        `waiting ${now.lag}`,
        `file ${kib} KiB`,
      ].join(' · '),
    );
    this.log(
      `demo stopped ${(await running.stopped).clean ? 'cleanly' : 'with errors (see the log above)'} after ${seconds} s: ${final.generated} events generated, ${final.written} written to ${outFile}`,
    );
    if (!kafka) {
      this.log(`look at them: mesh topic tail orders.orders --data-dir ${dataDirFlag} --limit 5`);
    }
  }

  /**
   * A throw-away Postgres with a workload -> mask (customers) -> file. Postgres starts first (the planner reads
   * the tables' columns from it) and stops last.
   */
  private async runPostgres(context: DemoContext): Promise<void> {
    const { dataDir, dataDirFlag, rate, duration, kafka, postgresPort, registry, config, logger } = context;
    const postgres = await this.postgresStep(() =>
      startEmbeddedPostgres({
        dataDir,
        port: postgresPort,
        notice: (message) => this.log(`postgres: ${message}`),
      }),
    );
    let running: RunningNode | undefined;
    let workload: ShopWorkload | undefined;
    // Ctrl-C before the node runs stops the start-up; once it runs, runNode drains it, and the workload
    // stops at once. A second Ctrl-C exits without waiting (Postgres is then told to stop on exit).
    let interrupted = false;
    const onSignal = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      void workload?.stop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const seeded = await prepareShop(postgres);
      const outFile = join(dataDir, 'out', 'shop.jsonl');
      const pipeline = demoPostgresPipeline({
        postgres: {
          host: postgres.host,
          port: postgres.port,
          database: SHOP_DATABASE,
          user: postgres.user,
          password: postgres.password,
        },
        tables: SHOP_TABLES,
        outFile,
      });
      const plan = await planPipeline(SourceDocument.fromValue(pipeline, 'demo pipeline'), registry);
      if (interrupted) return;
      running = await runNode(config, [plan], logger);
      if (interrupted) void running.stop();
      this.log(
        `datamesh demo: postgres (${SHOP_TABLES.join(', ')}) -> mask-emails (customers) -> ${outFile} (over ${overWhat(kafka)})`,
      );
      this.log(
        `postgres: ${postgres.version} on ${postgres.host}:${postgres.port}, database ${SHOP_DATABASE}, user ${postgres.user} ` +
          `(password in ${join(dataDirFlag, 'postgres.json')})${seeded ? ', shop seeded' : ''} · log ${postgres.logFile}`,
      );
      this.log(`metrics ${running.node.url}/metrics · health ${running.node.url}/health · Ctrl-C to stop`);
      workload = await ShopWorkload.start(await connected(postgres.client(SHOP_DATABASE)), rate);
      if (interrupted) void workload.stop();

      const node = running;
      const labels = { pipeline: 'demo-postgres' };
      const tally = new OutputTally(outFile);
      await tally.start();
      const count = async () => {
        await tally.update();
        return {
          captured: await metricSum(node.node.registry, METRIC.eventsOut, { ...labels, stage: 'postgres' }),
          written: await metricSum(node.node.registry, METRIC.eventsOut, { ...labels, stage: 'shop-file' }),
          lag: await metricSum(node.node.registry, METRIC.inputLagEvents, labels),
        };
      };
      const changes = workload;
      const { seconds, final } = await this.watch(
        running,
        duration,
        outFile,
        count,
        (now, perSecond, kib) =>
          [
            `events: captured ${now.captured}`,
            `written ${now.written} (${perSecond}/s; snapshot ${tally.snapshot}, live ${tally.live})`,
            `waiting ${now.lag}`,
            `workload ${changes.total} changes`,
            `file ${kib} KiB`,
          ].join(' · '),
        () => void changes.stop(),
      );
      await workload.stop();
      const { clean } = await running.stopped;
      const { inserts, updates, deletes } = workload.counts;
      this.log(
        `demo stopped ${clean ? 'cleanly' : 'with errors (see the log above)'} after ${seconds} s: ${final.captured} events captured, ` +
          `${final.written} written to ${outFile} (snapshot ${tally.snapshot} rows, live ${tally.live} changes); ` +
          `the workload made ${workload.total} changes (${inserts} inserts, ${updates} updates, ${deletes} deletes)`,
      );
      if (workload.failure) this.warn(`the workload stopped early: ${workload.failure.message}`);
      if (!kafka) {
        this.log(`look at them: mesh topic tail postgres.shop.orders --data-dir ${dataDirFlag} --limit 5`);
      }
    } finally {
      // Also after a failure: the node drains (stop is idempotent), then Postgres stops.
      await workload?.stop();
      await running?.stop();
      await postgres.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  /**
   * Prints a progress line every second until the node stopped (a signal, or `duration` seconds, when
   * `beforeStop` runs and then the node is stopped), and returns the run's length and the final counts.
   */
  private async watch<C extends { written: number }>(
    running: RunningNode,
    duration: number | undefined,
    outFile: string,
    count: () => Promise<C>,
    line: (now: C, perSecond: number, kib: string) => string,
    beforeStop: () => void = () => undefined,
  ): Promise<{ seconds: string; final: C }> {
    const startedAt = Date.now();
    let last = { ...(await count()), at: startedAt };
    const interactive = process.stdout.isTTY === true;
    const ticker = setInterval(() => {
      void count().then(async (now) => {
        const perSecond = Math.round((now.written - last.written) / ((Date.now() - last.at) / 1000));
        const size = await stat(outFile).then(
          (s) => s.size,
          () => 0,
        );
        const text = line(now, perSecond, (size / 1024).toFixed(0));
        if (interactive) process.stdout.write(`\r${text}   `);
        else this.log(text);
        last = { ...now, at: Date.now() };
      });
    }, 1000);
    const timer =
      duration === undefined
        ? undefined
        : setTimeout(() => {
            beforeStop();
            void running.stop();
          }, duration * 1000);
    await running.stopped;
    clearInterval(ticker);
    if (timer) clearTimeout(timer);
    const final = await count();
    if (interactive) process.stdout.write('\n');
    return { seconds: ((Date.now() - startedAt) / 1000).toFixed(1), final };
  }

  /** Runs a step of the demo's Postgres; its failures are printed as they are, exit code 1. */
  private async postgresStep<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof EmbeddedPostgresError) this.error(`postgres: ${error.message}`, { exit: 1 });
      throw error;
    }
  }
}

/** The demo's database and its seeded shop schema; resolves whether this run seeded it. */
async function prepareShop(postgres: RunningPostgres): Promise<boolean> {
  const admin = await connected(postgres.client('postgres'));
  try {
    await ensureShopDatabase(admin);
  } finally {
    await admin.end();
  }
  const shop = await connected(postgres.client(SHOP_DATABASE));
  try {
    return await ensureShopSchema(shop);
  } finally {
    await shop.end();
  }
}

/** Connects a client; a connection the server ends later fails its next query instead of the process. */
async function connected(client: pg.Client): Promise<pg.Client> {
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
