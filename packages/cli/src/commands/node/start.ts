import { Flags } from '@oclif/core';
import { createLogger, loadNodeConfig, planPipelineFiles, type NodeConfig } from '@datamesh/core';
import { resolve } from 'node:path';
import { MeshCommand } from '../../base-command.js';
import { runNode } from '../../node-runner.js';

export default class NodeStart extends MeshCommand {
  static override summary = 'Run a mesh node with the pipelines of a node config.';
  static override description =
    'Plans every pipeline the config lists (refusing to start if any is invalid), runs their tasks on the transport ' +
    'the config names, serves /metrics, /health and its schema registry (the Confluent REST API at /schema-registry, ' +
    'unless it uses an external one: schemaRegistry.url), and logs JSON lines to stdout. SIGINT or SIGTERM drains ' +
    'in-flight batches, flushes sinks and commits positions before exiting.';
  static override examples = [
    '<%= config.bin %> node start --config examples/demo/node.yaml',
    '<%= config.bin %> node start --config node.yaml --pipeline extra.yaml --port 9500',
  ];
  static override flags = {
    config: Flags.string({ char: 'c', required: true, description: 'Node config file (YAML or JSON).' }),
    pipeline: Flags.string({
      char: 'p',
      multiple: true,
      description: 'Extra pipeline file to run (repeatable).',
    }),
    port: Flags.integer({
      min: 0,
      max: 65535,
      description: 'Port of the /metrics and /health server (overrides the config).',
    }),
    'log-level': Flags.string({
      options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      description: 'Overrides the config.',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NodeStart);
    // `${NAME}` in the node config and pipeline files reads the environment (secrets stay out of files).
    const loaded = await loadNodeConfig(flags.config, { env: process.env });
    const config: NodeConfig = {
      ...loaded.config,
      http: { ...loaded.config.http, ...(flags.port === undefined ? {} : { port: flags.port }) },
      log: {
        level: (flags['log-level'] as NodeConfig['log']['level'] | undefined) ?? loaded.config.log.level,
      },
    };
    const files = [...loaded.pipelineFiles, ...(flags.pipeline ?? []).map((p) => resolve(p))];
    if (files.length === 0)
      this.error(
        'the node config lists no pipelines; add `pipelines: [my-pipeline.yaml]` or pass --pipeline',
        { exit: 2 },
      );
    const registry = await this.registry(flags['plugin-dir'] ?? []);
    const plans = await planPipelineFiles(files, registry, { env: process.env });
    const logger = createLogger({ level: config.log.level });
    const running = await runNode(config, plans, logger);
    await running.stopped;
  }
}
