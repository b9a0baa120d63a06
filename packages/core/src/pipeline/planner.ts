import { parseConfig, ConfigError, collectIssues, KEBAB_CASE_PATTERN } from '../contract/config-schema.js';
import {
  PlanError,
  type ProcessorInput,
  type ProcessorPart,
  type ProcessorPlan,
  type ProcessorPlugin,
  type SinkPlugin,
  type SourcePlugin,
  type FieldLineage,
} from '../contract/plugin.js';
import type { AvroRecordSchema } from '../schema/avro.js';
import { Value } from '@sinclair/typebox/value';
import { isDeepStrictEqual } from 'node:util';
import {
  PipelineSpecSchema,
  type PipelineSpec,
  type ProcessorStage,
  type SinkStage,
  type SourceStage,
} from './pipeline-spec.js';
import { DocumentError, type Problem, type SourceDocument } from './source-document.js';
import type { PluginRegistry } from '../registry/plugin-registry.js';

/** A stream between stages: a source's stream or a processor's output. */
export interface PlannedStream {
  /** How stages refer to it: `<stage>` or `<stage>/<stream>`. */
  readonly ref: string;
  readonly stage: string;
  /** The topic it lives in when materialised. */
  readonly topic: string;
  /** False for a processor output fused into its consumer (no topic). */
  readonly materialized: boolean;
  readonly keySchema: AvroRecordSchema;
  readonly valueSchema: AvroRecordSchema;
  /** What the stream holds, as its source declares it. */
  readonly description?: string;
  /**
   * An internal topic that repartitions by a key of another topic: created with that topic's partition count, so
   * equal keys land in equal partition numbers.
   */
  readonly partitionsLike?: string;
}

export interface PlannedSource {
  readonly id: string;
  readonly stage: SourceStage;
  readonly plugin: SourcePlugin;
  readonly config: unknown;
  /** Stream name → planned stream. */
  readonly streams: ReadonlyMap<string, PlannedStream>;
}

export interface PlannedProcessor {
  readonly stage: ProcessorStage;
  readonly plugin: ProcessorPlugin;
  readonly config: unknown;
  readonly inputs: readonly PlannedStream[];
  readonly plan: ProcessorPlan;
  readonly output: PlannedStream;
  /**
   * A processor that runs as parts (`ProcessorPlugin.expand`): they run in its place, each as a task of its own,
   * joined by internal topics; the last writes `output`.
   */
  readonly parts?: readonly PlannedProcessor[];
}

export interface PlannedSink {
  readonly stage: SinkStage;
  readonly plugin: SinkPlugin;
  readonly config: unknown;
  readonly inputs: readonly PlannedStream[];
}

/**
 * A consumer task: reads materialised topics, runs its chain of processors fused in one loop, and ends in
 * a topic (the last processor's materialised output) or a sink.
 */
export interface PlannedTask {
  readonly id: string;
  readonly inputs: readonly PlannedStream[];
  readonly chain: readonly PlannedProcessor[];
  readonly output:
    | { readonly kind: 'topic'; readonly processor: PlannedProcessor }
    | { readonly kind: 'sink'; readonly sink: PlannedSink };
}

/**
 * True when a task may run once per input partition, spread over the nodes: it writes a topic and every processor
 * of it is stateless or keeps its state per partition (`ProcessorPlan.perPartition`). At run time it also needs
 * its inputs to share a partition count (more than one); otherwise it runs once, on one node at a time.
 */
export function splitsByPartition(task: PlannedTask): boolean {
  return (
    task.output.kind === 'topic' &&
    task.chain.every((p) => !p.plugin.stateful || p.plan.perPartition === true)
  );
}

export interface PipelinePlan {
  readonly name: string;
  readonly spec: PipelineSpec;
  readonly sources: readonly PlannedSource[];
  readonly processors: readonly PlannedProcessor[];
  readonly sinks: readonly PlannedSink[];
  readonly tasks: readonly PlannedTask[];
  /** Field-level lineage of every processor output. */
  readonly lineage: ReadonlyMap<string, readonly FieldLineage[]>;
}

/** The topics a pipeline's tasks write: its source streams and its materialised processor outputs. */
export function topicsWrittenBy(plan: Pick<PipelinePlan, 'sources' | 'processors'>): string[] {
  return topicWriters(plan).map((w) => w.topic);
}

/** Each topic a pipeline writes, with the stage that writes it (in stage order: sources, then processors). */
function topicWriters(
  plan: Pick<PipelinePlan, 'sources' | 'processors'>,
): { topic: string; stage: string }[] {
  return [
    ...plan.sources.flatMap((s) =>
      [...s.streams.values()].map((t) => ({ topic: t.topic, stage: s.stage.name })),
    ),
    ...plan.processors
      .filter((p) => p.output.materialized)
      .map((p) => ({ topic: p.output.topic, stage: p.stage.name })),
  ];
}

/** Problems for topics that more than one of the pipelines on a node would write. */
export function sharedTopicProblems(plans: readonly PipelinePlan[]): Problem[] {
  const writers = new Map<string, string[]>();
  for (const plan of plans) {
    for (const topic of new Set(topicsWrittenBy(plan)))
      writers.set(topic, [...(writers.get(topic) ?? []), plan.name]);
  }
  return [...writers.entries()]
    .filter(([, names]) => names.length > 1)
    .map(([topic, names]) => ({
      path: '/sources',
      message: `topic "${topic}" would be written by pipelines ${names.map((n) => `"${n}"`).join(' and ')}; give their source stages distinct names`,
    }));
}

export function sourceTopic(stage: string, stream: string): string {
  return `${stage}.${stream}`;
}

export function processorTopic(pipeline: string, stage: string): string {
  return `${pipeline}.${stage}`;
}

/** A stream as a processor's `plan` and context see it: its reference and schemas. */
export function processorInputOf(stream: PlannedStream): ProcessorInput {
  return { name: stream.ref, keySchema: stream.keySchema, valueSchema: stream.valueSchema };
}

const PART_NAME = new RegExp(KEBAB_CASE_PATTERN);

/** The internal topic a part of a processor stage writes (`ProcessorPlugin.expand`). */
export function partTopic(pipeline: string, stage: string, part: string): string {
  return `__datamesh_part.${pipeline}.${stage}.${part}`;
}

/**
 * Validates a pipeline document against the installed plugins and plans it: checks every stage's
 * config, resolves inputs, propagates schemas through processors (their plan step), and fuses
 * consecutive processors that need no topic between them into one task. Every problem found is
 * reported at once, with the place in the file it comes from.
 */
export async function planPipeline(
  document: SourceDocument,
  registry: PluginRegistry,
): Promise<PipelinePlan> {
  const problems: Problem[] = [];
  const fail = (): never => {
    throw new DocumentError(`pipeline ${document.file} is invalid`, problems);
  };

  const raw = Value.Default(PipelineSpecSchema, structuredClone(document.value ?? {}));
  // A stage with a malformed entry is skipped, not the whole pipeline: the rest is still checked, so one
  // run reports every problem.
  const broken = new Set<string>();
  for (const issue of collectIssues(PipelineSpecSchema, raw)) {
    problems.push(document.problem(issue.path, issue.message));
    const [list, index] = issue.path.split('/').slice(1);
    if (index !== undefined && /^\d+$/.test(index)) broken.add(`${list}/${index}`);
  }
  const lists = raw as Partial<Record<'sources' | 'processors' | 'sinks', unknown>>;
  const structured =
    typeof raw === 'object' &&
    raw !== null &&
    ['sources', 'processors', 'sinks'].every((k) => Array.isArray(lists[k as keyof typeof lists]));
  if (!structured) fail();
  const spec = raw as PipelineSpec;
  const usable = <T>(list: 'sources' | 'processors' | 'sinks', items: readonly T[]) =>
    items.map((item, index) => ({ item, index })).filter(({ index }) => !broken.has(`${list}/${index}`));
  const brokenNames = new Set(
    (['sources', 'processors', 'sinks'] as const).flatMap((list) =>
      spec[list]
        .filter((_, i) => broken.has(`${list}/${i}`))
        .map((stage) => (stage as { name?: unknown } | null)?.name)
        .filter((name): name is string => typeof name === 'string'),
    ),
  );

  const stageKinds = new Map<string, string>();
  const declare = (name: string, path: string) => {
    if (stageKinds.has(name)) problems.push(document.problem(path, `stage name "${name}" is used twice`));
    stageKinds.set(name, path);
  };
  const sources_ = usable('sources', spec.sources);
  const processors_ = usable('processors', spec.processors);
  const sinks_ = usable('sinks', spec.sinks);
  sources_.forEach(({ item, index }) => declare(item.name, `/sources/${index}/name`));
  processors_.forEach(({ item, index }) => declare(item.name, `/processors/${index}/name`));
  sinks_.forEach(({ item, index }) => declare(item.name, `/sinks/${index}/name`));

  const configOf = <P extends { config: import('@sinclair/typebox').TSchema }>(
    plugin: P,
    config: unknown,
    path: string,
    stage: string,
  ): unknown => {
    try {
      return parseConfig(plugin.config, config, `stage "${stage}"`);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const issue of error.issues)
        problems.push(document.problem(`${path}/config${issue.path}`, issue.message));
      return undefined;
    }
  };
  const pluginOf = <K extends 'source' | 'processor' | 'sink'>(kind: K, name: string, path: string) => {
    const plugin = registry.find(kind, name);
    if (!plugin) {
      const available = registry.names(kind);
      problems.push(
        document.problem(
          `${path}/plugin`,
          `unknown ${kind} plugin "${name}" (${available.length ? `installed: ${available.join(', ')}` : `no ${kind} plugin installed`}; add one with \`mesh plugins install <package>\`)`,
        ),
      );
    }
    return plugin;
  };

  // Sources and their streams.
  const streams = new Map<string, PlannedStream>();
  const streamsOfStage = new Map<string, PlannedStream[]>();
  const sources: PlannedSource[] = [];
  for (const { item: stage, index: i } of sources_) {
    const path = `/sources/${i}`;
    const plugin = pluginOf('source', stage.plugin, path);
    if (!plugin) continue;
    const config = configOf(plugin, stage.config, path, stage.name);
    if (config === undefined) continue;
    let declared;
    try {
      declared = await plugin.streams(config as never);
    } catch (error) {
      problems.push(
        document.problem(
          path,
          `cannot list the streams of source "${stage.name}": ${(error as Error).message}`,
        ),
      );
      continue;
    }
    const byName = new Map<string, PlannedStream>();
    for (const d of declared) {
      const planned: PlannedStream = {
        ref: `${stage.name}/${d.name}`,
        stage: stage.name,
        topic: sourceTopic(stage.name, d.name),
        materialized: true,
        keySchema: d.keySchema,
        valueSchema: d.valueSchema,
        ...(d.description ? { description: d.description } : {}),
      };
      byName.set(d.name, planned);
      streams.set(planned.ref, planned);
    }
    streamsOfStage.set(stage.name, [...byName.values()]);
    sources.push({ id: `${spec.name}.${stage.name}`, stage, plugin, config, streams: byName });
  }

  // Processors in dependency order.
  const processorByName = new Map(processors_.map(({ item, index }) => [item.name, { stage: item, index }]));
  const consumers = new Map<string, string[]>();
  for (const { item: stage } of [...processors_, ...sinks_]) {
    for (const input of stage.inputs) {
      const upstream = input.split('/')[0]!;
      consumers.set(upstream, [...(consumers.get(upstream) ?? []), stage.name]);
    }
  }
  const sinkNames = new Set(sinks_.map(({ item }) => item.name));

  const resolveInputs = (stage: ProcessorStage | SinkStage, path: string): PlannedStream[] | undefined => {
    const resolved: PlannedStream[] = [];
    let ok = true;
    stage.inputs.forEach((input, j) => {
      const [upstream, streamName] = input.split('/', 2) as [string, string | undefined];
      const at = `${path}/inputs/${j}`;
      if (sinkNames.has(upstream)) {
        problems.push(document.problem(at, `"${upstream}" is a sink; sinks produce no stream to consume`));
        ok = false;
        return;
      }
      if (brokenNames.has(upstream) && !stageKinds.has(upstream)) {
        ok = false; // the upstream stage is malformed; its own problem is reported already
        return;
      }
      if (!stageKinds.has(upstream)) {
        const producers = [...sources_, ...processors_]
          .map(({ item }) => item.name)
          .filter((n) => n !== stage.name);
        problems.push(
          document.problem(
            at,
            `unknown input "${input}"; stages that produce streams: ${producers.join(', ') || 'none'}`,
          ),
        );
        ok = false;
        return;
      }
      const candidates = streamsOfStage.get(upstream);
      if (candidates === undefined) {
        ok = false; // upstream failed to plan; its own problem is reported already
        return;
      }
      const match =
        streamName === undefined
          ? candidates
          : candidates.filter((c) => c.ref === `${upstream}/${streamName}`);
      if (match.length === 1) resolved.push(match[0]!);
      else {
        problems.push(
          document.problem(
            at,
            match.length === 0
              ? `"${upstream}" has no stream "${streamName}"; it produces ${candidates.map((c) => c.ref).join(', ')}`
              : `"${upstream}" produces ${candidates.length} streams; name one: ${candidates.map((c) => c.ref).join(', ')}`,
          ),
        );
        ok = false;
      }
    });
    return ok ? resolved : undefined;
  };

  const processors: PlannedProcessor[] = [];
  const lineage = new Map<string, readonly FieldLineage[]>();
  const visiting = new Set<string>();
  const done = new Set<string>();
  const planProcessor = (name: string): void => {
    if (done.has(name)) return;
    const entry = processorByName.get(name)!;
    const { stage, index } = entry;
    const path = `/processors/${index}`;
    if (visiting.has(name)) {
      problems.push(document.problem(`${path}/inputs`, `processor "${name}" is part of a cycle`));
      done.add(name);
      return;
    }
    visiting.add(name);
    for (const input of stage.inputs) {
      const upstream = input.split('/')[0]!;
      if (processorByName.has(upstream)) planProcessor(upstream);
    }
    visiting.delete(name);
    done.add(name);

    const plugin = pluginOf('processor', stage.plugin, path);
    const config = plugin ? configOf(plugin, stage.config, path, stage.name) : undefined;
    const inputs = resolveInputs(stage, path);
    if (!plugin || config === undefined || !inputs) return;
    const planInputs = inputs.map(processorInputOf);
    let plan: ProcessorPlan;
    try {
      plan = plugin.plan(planInputs, config as never);
    } catch (error) {
      const reason = error instanceof PlanError ? error.message : `plan failed: ${(error as Error).message}`;
      problems.push(
        document.problem(
          `${path}/inputs`,
          `processor "${name}" (${stage.plugin}) cannot take its inputs: ${reason}`,
        ),
      );
      return;
    }
    const downstream = consumers.get(name) ?? [];
    if (downstream.length === 0 && !stage.shared) {
      problems.push(
        document.problem(
          path,
          `the output of processor "${name}" is used by no stage; consume it or mark it "shared: true"`,
        ),
      );
    }
    const multiInputConsumer = downstream.some((c) => {
      const s = processorByName.get(c)?.stage ?? sinks_.find(({ item }) => item.name === c)?.item;
      return (s?.inputs.length ?? 0) > 1;
    });
    const materialized = stage.shared || plugin.stateful || downstream.length !== 1 || multiInputConsumer;
    const output: PlannedStream = {
      ref: name,
      stage: name,
      topic: processorTopic(spec.name, name),
      materialized,
      keySchema: plan.keySchema,
      valueSchema: plan.valueSchema,
    };
    const parts = planParts(stage, plugin, config, inputs, planInputs, plan, output, path);
    if (parts === null) return;
    streams.set(name, output);
    streamsOfStage.set(name, [output]);
    lineage.set(name, plan.lineage);
    processors.push({ stage, plugin, config, inputs, plan, output, ...(parts ? { parts } : {}) });
  };

  /**
   * The parts a processor runs as, planned like stages of their own (undefined: it runs as one; null: a part
   * cannot be planned, which is reported).
   */
  const planParts = (
    stage: ProcessorStage,
    plugin: ProcessorPlugin,
    config: unknown,
    inputs: readonly PlannedStream[],
    planInputs: readonly ProcessorInput[],
    plan: ProcessorPlan,
    output: PlannedStream,
    path: string,
  ): PlannedProcessor[] | undefined | null => {
    const report = (message: string) => {
      problems.push(document.problem(path, `processor "${stage.name}" (${stage.plugin}) ${message}`));
      return null;
    };
    let declared: readonly ProcessorPart[] | undefined;
    try {
      declared = plugin.expand?.(planInputs, config as never);
    } catch (error) {
      return report(`cannot be split into parts: ${(error as Error).message}`);
    }
    if (!declared || declared.length === 0) return undefined;
    const planned: PlannedProcessor[] = [];
    const byName = new Map<string, PlannedStream>();
    for (const [index, part] of declared.entries()) {
      const last = index === declared.length - 1;
      const partName = `${stage.name}.${part.name}`;
      if (!PART_NAME.test(part.name) || byName.has(part.name))
        return report(`declares a part named "${part.name}": part names are kebab-case and unique`);
      const partInputs: PlannedStream[] = [];
      for (const ref of part.inputs) {
        const input = typeof ref === 'number' ? inputs[ref] : byName.get(ref);
        if (!input)
          return report(
            `part "${part.name}" reads "${String(ref)}", which is neither an input nor an earlier part`,
          );
        if (!input.materialized)
          return report(
            `runs as parts, which read its inputs from topics, but its input "${input.ref}" is fused into it: mark stage "${input.stage}" "shared: true"`,
          );
        partInputs.push(input);
      }
      let partPlan: ProcessorPlan;
      try {
        partPlan = part.plugin.plan(partInputs.map(processorInputOf), part.config as never);
      } catch (error) {
        return report(`part "${part.name}" cannot take its inputs: ${(error as Error).message}`);
      }
      if (
        last &&
        !(
          isDeepStrictEqual(partPlan.keySchema, plan.keySchema) &&
          isDeepStrictEqual(partPlan.valueSchema, plan.valueSchema)
        )
      ) {
        return report(`ends in part "${part.name}", whose output schemas differ from the stage's plan`);
      }
      const like = part.partitionsLike === undefined ? undefined : inputs[part.partitionsLike];
      if (part.partitionsLike !== undefined && !like?.materialized)
        return report(
          `part "${part.name}" follows the partitions of input ${part.partitionsLike}, which is not a topic`,
        );
      const partOutput: PlannedStream = last
        ? output
        : {
            ref: partName,
            stage: partName,
            topic: partTopic(spec.name, stage.name, part.name),
            materialized: true,
            keySchema: partPlan.keySchema,
            valueSchema: partPlan.valueSchema,
            ...(like ? { partitionsLike: like.topic } : {}),
          };
      byName.set(part.name, partOutput);
      planned.push({
        stage: {
          name: partName,
          // Its metrics, logs and dead letters carry the stage's plugin, so the plugin's dashboards and alerts
          // cover its parts; the stage label tells them apart.
          plugin: stage.plugin,
          inputs: partInputs.map((s) => s.ref),
          config: part.config as Record<string, unknown>,
          shared: false,
        },
        plugin: part.plugin,
        config: part.config,
        inputs: partInputs,
        plan: partPlan,
        output: partOutput,
      });
    }
    return planned;
  };
  for (const { item } of processors_) planProcessor(item.name);

  const sinks: PlannedSink[] = [];
  for (const { item: stage, index: i } of sinks_) {
    const path = `/sinks/${i}`;
    const plugin = pluginOf('sink', stage.plugin, path);
    const config = plugin ? configOf(plugin, stage.config, path, stage.name) : undefined;
    const inputs = resolveInputs(stage, path);
    if (plugin && config !== undefined && inputs) sinks.push({ stage, plugin, config, inputs });
  }

  // Two writers of one topic would interleave unrelated events under one schema subject.
  const writers = new Map<string, string>();
  const pathOf = (stage: string) => {
    const source = spec.sources.findIndex((s) => s.name === stage);
    return source >= 0
      ? `/sources/${source}`
      : `/processors/${spec.processors.findIndex((p) => p.name === stage)}`;
  };
  for (const { topic, stage } of topicWriters({ sources, processors })) {
    const first = writers.get(topic);
    if (first) {
      problems.push(
        document.problem(
          pathOf(stage),
          `topic "${topic}" is already written by the stage at ${first}; rename one of them`,
        ),
      );
    } else writers.set(topic, pathOf(stage));
  }

  if (problems.length > 0) fail();
  return {
    name: spec.name,
    spec,
    sources,
    processors,
    sinks,
    tasks: fuse(spec.name, processors, sinks),
    lineage,
  };
}

/**
 * Groups stages into consumer tasks. Each task ends at a sink or a materialised processor output and
 * runs, fused in one process loop, every processor whose output is not materialised on the way there.
 */
function fuse(
  pipeline: string,
  processors: readonly PlannedProcessor[],
  sinks: readonly PlannedSink[],
): PlannedTask[] {
  const runnable = processors.flatMap((p) => p.parts ?? [p]);
  const producerOf = new Map(runnable.map((p) => [p.output.ref, p]));
  const chainTo = (
    inputs: readonly PlannedStream[],
  ): { inputs: readonly PlannedStream[]; chain: PlannedProcessor[] } => {
    const chain: PlannedProcessor[] = [];
    let current = inputs;
    while (current.length === 1 && !current[0]!.materialized) {
      const producer = producerOf.get(current[0]!.ref)!;
      chain.unshift(producer);
      current = producer.inputs;
    }
    return { inputs: current, chain };
  };
  const tasks: PlannedTask[] = [];
  for (const processor of runnable.filter((p) => p.output.materialized)) {
    const { inputs, chain } = chainTo(processor.inputs);
    tasks.push({
      id: `${pipeline}.${processor.stage.name}`,
      inputs,
      chain: [...chain, processor],
      output: { kind: 'topic', processor },
    });
  }
  for (const sink of sinks) {
    const { inputs, chain } = chainTo(sink.inputs);
    tasks.push({ id: `${pipeline}.${sink.stage.name}`, inputs, chain, output: { kind: 'sink', sink } });
  }
  return tasks;
}
