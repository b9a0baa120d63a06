import { Flags } from '@oclif/core';
import { stat, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  METRIC,
  NodeConfigSchema,
  SourceDocument,
  createLogger,
  parseConfig,
  planPipeline,
} from '@datamesh/core';
import { MeshCommand } from '../base-command.js';
import { demoPipeline } from '../demo-pipeline.js';
import { openEmbeddedLog } from '../embedded-log.js';
import { metricSum } from '../metric-reader.js';
import { runNode } from '../node-runner.js';

export default class Demo extends MeshCommand {
  static override summary = 'Run a demo pipeline on the embedded transport, no external service needed.';
  static override description =
    'Generates order changes (datagen source), hashes their e-mail addresses (mask processor, fused into the sink ' +
    'task) and appends them to a JSON Lines file (file sink), over the embedded durable log. A progress line shows ' +
    'events flowing; Ctrl-C drains and stops cleanly. Run it again and it resumes where it stopped.';
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --rate 5000 --duration 10',
    '<%= config.bin %> demo --fresh',
    '<%= config.bin %> demo --kafka 127.0.0.1:9092',
  ];
  static override flags = {
    'data-dir': Flags.string({
      char: 'd',
      default: '.datamesh/demo',
      description: 'Where the demo keeps its log, state and output.',
    }),
    rate: Flags.integer({
      char: 'r',
      default: 1000,
      min: 0,
      description: 'Order changes per second (0: as fast as possible).',
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
    fresh: Flags.boolean({
      description: 'Delete the demo’s data dir first (on Kafka its topics stay: positions and offsets too).',
    }),
    kafka: Flags.string({
      description:
        'Run over a Kafka cluster instead of the embedded log: its bootstrap brokers, comma-separated host:port.',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo);
    const dataDir = resolve(flags['data-dir']);
    if (flags.fresh) {
      // Not from under a demo still running there: opening the log fails while another process holds it.
      if (await isDirectory(join(dataDir, 'log'))) await (await openEmbeddedLog(dataDir)).close();
      await rm(dataDir, { recursive: true, force: true });
    }
    const outFile = join(dataDir, 'out', 'orders.jsonl');
    const registry = await this.registry(flags['plugin-dir'] ?? []);
    const missing = ['source:datagen', 'processor:mask', 'sink:file'].filter((id) => {
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
    const plan = await planPipeline(
      SourceDocument.fromValue(demoPipeline({ rate: flags.rate, outFile }), 'demo pipeline'),
      registry,
    );
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
    const logger = createLogger({ level: config.log.level });
    const running = await runNode(config, [plan], logger);
    this.log(
      `datamesh demo: orders -> mask-emails -> ${outFile} (over ${flags.kafka ? `Kafka at ${flags.kafka}` : 'the embedded log'})`,
    );
    this.log(`metrics ${running.node.url}/metrics · health ${running.node.url}/health · Ctrl-C to stop`);

    const registryOf = running.node.registry;
    const count = async () => ({
      generated: await metricSum(registryOf, METRIC.eventsOut, { pipeline: 'demo', stage: 'orders' }),
      written: await metricSum(registryOf, METRIC.eventsOut, { pipeline: 'demo', stage: 'orders-file' }),
      lag: await metricSum(registryOf, METRIC.inputLagEvents, { pipeline: 'demo' }),
    });
    const startedAt = Date.now();
    let last = { ...(await count()), at: startedAt };
    const interactive = process.stdout.isTTY === true;
    const ticker = setInterval(() => {
      void count().then(async (now) => {
        const seconds = (Date.now() - last.at) / 1000;
        const rate = Math.round((now.written - last.written) / seconds);
        const size = await stat(outFile).then(
          (s) => s.size,
          () => 0,
        );
        const line = `events: generated ${now.generated} · written ${now.written} (${rate}/s) · waiting ${now.lag} · file ${(size / 1024).toFixed(0)} KiB`;
        if (interactive) process.stdout.write(`\r${line}   `);
        else this.log(line);
        last = { ...now, at: Date.now() };
      });
    }, 1000);
    const timer =
      flags.duration === undefined ? undefined : setTimeout(() => void running.stop(), flags.duration * 1000);
    const { clean } = await running.stopped;
    clearInterval(ticker);
    if (timer) clearTimeout(timer);
    const final = await count();
    if (interactive) process.stdout.write('\n');
    this.log(
      `demo stopped ${clean ? 'cleanly' : 'with errors (see the log above)'} after ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${final.generated} events generated, ${final.written} written to ${outFile}`,
    );
    if (!flags.kafka) {
      this.log(`look at them: mesh topic tail orders.orders --data-dir ${flags['data-dir']} --limit 5`);
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
