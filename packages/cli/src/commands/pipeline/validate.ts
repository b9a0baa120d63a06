import { Args, Flags } from '@oclif/core';
import { SourceDocument, planPipeline, splitsByPartition, type PipelinePlan } from '@datamesh/core';
import { MeshCommand } from '../../base-command.js';

export default class PipelineValidate extends MeshCommand {
  static override summary = 'Validate and plan a pipeline definition (YAML or JSON).';
  static override description =
    'Checks the file against the pipeline schema, the installed plugins and their config schemas, propagates schemas ' +
    'through the processors, and prints the plan: the tasks the node will run, which processors are fused, and which ' +
    'topics are used. Every problem is reported with its line. Exit code 2 when the pipeline is invalid. ' +
    'String values may refer to environment variables as ${NAME} ($${ for a literal ${).';
  static override examples = [
    '<%= config.bin %> pipeline validate examples/demo/pipeline.yaml',
    '<%= config.bin %> pipeline validate pipeline.yaml --json',
  ];
  static override enableJsonFlag = true;
  static override args = { file: Args.string({ required: true, description: 'Pipeline file.' }) };
  static override flags = {
    lineage: Flags.boolean({
      description: 'Also print field-level lineage of every processor, and the input fields each one reads.',
    }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(PipelineValidate);
    const registry = await this.registry(flags['plugin-dir'] ?? []);
    // `${NAME}` in the file reads the environment (secrets stay out of pipeline files).
    const plan = await planPipeline(await SourceDocument.read(args.file, { env: process.env }), registry);
    const summary = summarise(plan);
    if (!this.jsonEnabled()) {
      this.log(
        `pipeline "${plan.name}" is valid: ${plan.sources.length} source task(s), ${plan.tasks.length} consumer task(s)`,
      );
      for (const source of summary.sources)
        this.log(`  source ${source.stage} (${source.plugin}) -> ${source.topics.join(', ')}`);
      for (const task of summary.tasks) {
        const chain = task.processors.length ? ` -> [${task.processors.join(' -> ')}] (fused)` : '';
        const runs =
          task.runs === 'per-partition'
            ? ' (once per input partition, spread over the nodes, when its inputs share a partition count > 1)'
            : task.runs === 'once'
              ? ' (on one node at a time)'
              : '';
        this.log(`  task ${task.id}: ${task.inputs.join(', ')}${chain} -> ${task.output}${runs}`);
      }
      if (flags.lineage) {
        for (const [stage, fields] of Object.entries(summary.lineage)) {
          this.log(`  lineage of ${stage}:`);
          for (const f of fields)
            this.log(
              `    ${f.output} <- ${f.inputs.map((i) => `${i.input}:${i.field}`).join(', ')}${f.transform ? ` (${f.transform})` : ''}`,
            );
        }
        for (const [stage, fields] of Object.entries(summary.consumes)) {
          this.log(
            `  ${stage} reads: ${fields.map((f) => `${f.input}:${f.field}`).join(', ') || 'no field'}`,
          );
        }
      }
    }
    return summary;
  }
}

function summarise(plan: PipelinePlan) {
  return {
    pipeline: plan.name,
    valid: true,
    sources: plan.sources.map((s) => ({
      stage: s.stage.name,
      plugin: s.plugin.name,
      topics: [...s.streams.values()].map((t) => t.topic),
    })),
    tasks: plan.tasks.map((t) => ({
      id: t.id,
      inputs: t.inputs.map((i) => i.topic),
      processors: t.chain.map((p) => p.stage.name),
      output:
        t.output.kind === 'sink'
          ? `sink ${t.output.sink.stage.name} (${t.output.sink.plugin.name})`
          : `topic ${t.output.processor.output.topic}`,
      // How a task that writes a topic is placed on the nodes (sink tasks split their partitions, or run on one
      // node at a time when their plugin says so for its config).
      ...(t.output.kind === 'topic' ? { runs: splitsByPartition(t) ? 'per-partition' : 'once' } : {}),
    })),
    lineage: Object.fromEntries(plan.lineage),
    // The input fields each processor reads; a processor built against contract 1.0 does not say (omitted).
    consumes: Object.fromEntries(
      plan.processors.flatMap((p) => (p.plan.consumes ? [[p.stage.name, p.plan.consumes]] : [])),
    ),
  };
}
