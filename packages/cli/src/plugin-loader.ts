import { existsSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '@oclif/core';
import { discoverPlugins, type PluginRegistry } from '@datamesh/core';

/**
 * Builds the plugin registry the way a user expects: every datamesh plugin installed next to the CLI
 * (its node_modules and their ancestors, so a workspace's packages count), plus those installed or
 * linked with `mesh plugins install|link`, which oclif keeps in its data dir.
 */
export async function loadPlugins(
  config: Config,
  extraDirs: readonly string[] = [],
): Promise<PluginRegistry> {
  const userPlugins = [...config.plugins.values()]
    .filter((p) => p.type === 'user' || p.type === 'link')
    .map((p) => p.root);
  return discoverPlugins({
    nodeModulesOf: ancestorsWithNodeModules(config.root),
    packageDirs: [...userPlugins, ...extraDirs],
  });
}

function ancestorsWithNodeModules(start: string): string[] {
  const dirs: string[] = [];
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'node_modules'))) dirs.push(dir);
    if (dir === parse(dir).root) return dirs;
    dir = dirname(dir);
  }
}

export const CLI_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
