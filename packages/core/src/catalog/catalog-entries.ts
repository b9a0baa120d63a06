import type { PipelinePlan } from '../pipeline/planner.js';
import type { CatalogEntry } from './topic-catalog.js';

/**
 * The catalog entries of a pipeline: its source streams, its shared processor outputs and the topics its
 * sinks declare, each with the pipeline's owner and the stage's (or stream's) description.
 */
export function catalogEntries(plan: PipelinePlan): CatalogEntry[] {
  const owner = plan.spec.owner;
  const common = (stage: string, plugin: string, description: string | undefined) => ({
    pipeline: plan.name,
    stage,
    plugin,
    ...(owner ? { owner } : {}),
    ...(description ? { description } : {}),
  });
  const avro = (topic: string) => ({
    keySubject: `${topic}-key`,
    valueSubject: `${topic}-value`,
    format: 'avro' as const,
  });
  const entries: CatalogEntry[] = [];
  for (const source of plan.sources) {
    for (const stream of source.streams.values()) {
      const description = stream.description ?? source.stage.description;
      entries.push({
        topic: stream.topic,
        kind: 'source',
        ...common(source.stage.name, source.plugin.name, description),
        ...avro(stream.topic),
      });
    }
  }
  for (const processor of plan.processors) {
    if (!processor.stage.shared) continue;
    const topic = processor.output.topic;
    entries.push({
      topic,
      kind: 'processor',
      ...common(processor.stage.name, processor.plugin.name, processor.stage.description),
      ...avro(topic),
    });
  }
  for (const sink of plan.sinks) {
    for (const output of sink.plugin.outputs?.(sink.config as never) ?? []) {
      const description = output.description ?? sink.stage.description;
      entries.push({
        topic: output.topic,
        kind: 'sink',
        ...common(sink.stage.name, sink.plugin.name, description),
        ...(output.format === 'avro' ? avro(output.topic) : { format: 'json' as const }),
      });
    }
  }
  return entries;
}
