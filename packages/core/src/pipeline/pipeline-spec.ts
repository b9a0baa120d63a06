import { Type, type Static } from '@sinclair/typebox';
import { KEBAB_CASE_PATTERN } from '../contract/config-schema.js';

const StageName = Type.String({
  pattern: KEBAB_CASE_PATTERN,
  description: 'Stage name, unique in the pipeline (kebab-case).',
});
const PluginName = Type.String({ minLength: 1, description: 'Name of an installed plugin of this kind.' });
const Inputs = Type.Array(Type.String({ minLength: 1 }), {
  minItems: 1,
  description: 'Upstream stages: `<stage>`, or `<stage>/<stream>` for a source with several streams.',
});
const Config = Type.Record(Type.String(), Type.Unknown(), {
  default: {},
  description: 'The plugin’s configuration.',
});

export const SourceStageSchema = Type.Object(
  {
    name: StageName,
    plugin: PluginName,
    config: Config,
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const ProcessorStageSchema = Type.Object(
  {
    name: StageName,
    plugin: PluginName,
    inputs: Inputs,
    config: Config,
    shared: Type.Boolean({
      default: false,
      description: 'Materialise the output as a topic other pipelines can consume (never fused away).',
    }),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const SinkStageSchema = Type.Object(
  {
    name: StageName,
    plugin: PluginName,
    inputs: Inputs,
    config: Config,
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** A pipeline as written in YAML or JSON: sources → processors → sinks. */
export const PipelineSpecSchema = Type.Object(
  {
    apiVersion: Type.Literal('datamesh/v1'),
    kind: Type.Literal('Pipeline'),
    name: StageName,
    description: Type.Optional(Type.String()),
    owner: Type.Optional(Type.String()),
    sources: Type.Array(SourceStageSchema, { minItems: 1 }),
    processors: Type.Array(ProcessorStageSchema, { default: [] }),
    // A pipeline may only capture: its sources land in catalogued topics that other pipelines consume.
    sinks: Type.Array(SinkStageSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type PipelineSpec = Static<typeof PipelineSpecSchema>;
export type SourceStage = Static<typeof SourceStageSchema>;
export type ProcessorStage = Static<typeof ProcessorStageSchema>;
export type SinkStage = Static<typeof SinkStageSchema>;
