import { Type } from '@sinclair/typebox';
import { collectIssues, KEBAB_CASE_PATTERN } from '../contract/config-schema.js';
import type { PluginKind } from '../contract/plugin.js';

/** What a plugin package declares under the `datamesh` key of its package.json. */
export const PluginManifestSchema = Type.Object({
  kind: Type.Union([Type.Literal('source'), Type.Literal('processor'), Type.Literal('sink')]),
  name: Type.String({ pattern: KEBAB_CASE_PATTERN }),
  entry: Type.String({
    minLength: 1,
    description: 'Module that exports the plugin, relative to the package root.',
  }),
  contract: Type.String({
    minLength: 1,
    description: 'Range of plugin contract versions the plugin supports.',
  }),
});

export interface PluginManifest {
  readonly kind: PluginKind;
  readonly name: string;
  readonly entry: string;
  readonly contract: string;
}

export interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly datamesh?: unknown;
  readonly oclif?: unknown;
}

/** Returns the manifest, or the list of problems with it. */
export function readManifest(pkg: PackageJson): { manifest: PluginManifest } | { problems: string[] } {
  const problems = collectIssues(PluginManifestSchema, pkg.datamesh).map(
    (i) => `"datamesh${i.path.replace(/\//g, '.')}": ${i.message}`,
  );
  if (pkg.oclif === undefined)
    problems.push('"oclif" key missing (add "oclif": {} so `mesh plugins install` accepts it)');
  return problems.length > 0 ? { problems } : { manifest: pkg.datamesh as PluginManifest };
}
