import { dirname, isAbsolute, resolve } from 'node:path';
import { collectIssues } from '../contract/config-schema.js';
import { Value } from '@sinclair/typebox/value';
import { planPipeline, sharedTopicProblems, type PipelinePlan } from '../pipeline/planner.js';
import {
  DocumentError,
  SourceDocument,
  type DocumentOptions,
  type Problem,
} from '../pipeline/source-document.js';
import type { PluginRegistry } from '../registry/plugin-registry.js';
import { NodeConfigSchema, type NodeConfig } from './node-config.js';

export interface LoadedNodeConfig {
  readonly config: NodeConfig;
  /** Pipeline files, resolved against the config file's folder. */
  readonly pipelineFiles: readonly string[];
}

/**
 * Reads a node config file; every problem is reported with its line. `dataDir` is resolved against the file.
 * `${NAME}` in string values is filled from `options.env` (core never reads `process.env`).
 */
export async function loadNodeConfig(file: string, options: DocumentOptions = {}): Promise<LoadedNodeConfig> {
  return nodeConfigFrom(await SourceDocument.read(file, options), dirname(resolve(file)));
}

export function nodeConfigFrom(document: SourceDocument, baseDir: string): LoadedNodeConfig {
  const value = Value.Default(NodeConfigSchema, structuredClone(document.value ?? {}));
  const problems = collectIssues(NodeConfigSchema, value).map((i) => document.problem(i.path, i.message));
  const transport = (value as Partial<NodeConfig>).transport;
  if (problems.length === 0 && transport?.kind === 'kafka' && transport.kafka === undefined) {
    problems.push(
      document.problem(
        '/transport',
        'transport kind "kafka" needs a `kafka` section with at least `brokers`',
      ),
    );
  }
  const schemaRegistry = (value as Partial<NodeConfig>).schemaRegistry;
  if (problems.length === 0 && schemaRegistry?.url !== undefined && schemaRegistry.serve === true) {
    problems.push(
      document.problem(
        '/schemaRegistry/serve',
        'a node that uses an external registry (`url`) serves none of its own: remove `serve` or `url`',
      ),
    );
  }
  if (problems.length === 0 && schemaRegistry?.url === undefined && schemaRegistry?.basicAuth !== undefined) {
    problems.push(
      document.problem(
        '/schemaRegistry/basicAuth',
        "`basicAuth` is for an external registry: set `url` too (the node's own registry takes no credentials)",
      ),
    );
  }
  if (problems.length > 0) throw new DocumentError(`node config ${document.file} is invalid`, problems);
  const config = value as NodeConfig;
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return { config: { ...config, dataDir: at(config.dataDir) }, pipelineFiles: config.pipelines.map(at) };
}

/** Plans every pipeline file; problems of all files are reported together. `${NAME}` reads `options.env`. */
export async function planPipelineFiles(
  files: readonly string[],
  registry: PluginRegistry,
  options: DocumentOptions = {},
): Promise<PipelinePlan[]> {
  const plans: PipelinePlan[] = [];
  const problems: Problem[] = [];
  for (const file of files) {
    try {
      plans.push(await planPipeline(await SourceDocument.read(file, options), registry));
    } catch (error) {
      if (!(error instanceof DocumentError)) throw error;
      problems.push(...error.problems);
    }
  }
  const names = new Map<string, number>();
  for (const plan of plans) names.set(plan.name, (names.get(plan.name) ?? 0) + 1);
  for (const [name, count] of names) {
    if (count > 1)
      problems.push({ path: '/name', message: `pipeline name "${name}" is used by ${count} files` });
  }
  problems.push(...sharedTopicProblems(plans));
  if (problems.length > 0) throw new DocumentError('pipelines are invalid', problems);
  return plans;
}
