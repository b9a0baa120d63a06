import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import { isPlugin, type Plugin } from '../contract/plugin.js';
import { CONTRACT_VERSION } from '../contract/version.js';
import { readManifest, type PackageJson } from './plugin-manifest.js';
import { PluginRegistry } from './plugin-registry.js';

export interface DiscoveryOptions {
  /** Directories whose `node_modules` are scanned (a workspace root, the CLI's data dir). */
  readonly nodeModulesOf?: readonly string[];
  /** Package directories taken as they are (linked plugins, a test fixture). */
  readonly packageDirs?: readonly string[];
  /** Adds to an existing registry instead of a new one. */
  readonly registry?: PluginRegistry;
}

/**
 * Finds packages that declare a `datamesh` key, loads their entry and registers the plugin.
 * A malformed, incompatible or duplicate plugin is refused with its reason; the rest keep loading.
 */
export async function discoverPlugins(options: DiscoveryOptions): Promise<PluginRegistry> {
  const registry = options.registry ?? new PluginRegistry();
  const candidates: string[] = [];
  for (const root of options.nodeModulesOf ?? [])
    candidates.push(...(await packagesIn(join(root, 'node_modules'))));
  candidates.push(...(options.packageDirs ?? []).map((d) => resolve(d)));

  const seen = new Set<string>();
  for (const dir of candidates) {
    const real = await realpath(dir).catch(() => dir);
    if (seen.has(real)) continue;
    seen.add(real);
    await loadPackage(real, registry);
  }
  return registry;
}

async function packagesIn(nodeModules: string): Promise<string[]> {
  const names = await readdir(nodeModules).catch(() => [] as string[]);
  const dirs: string[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) {
      for (const scoped of await readdir(join(nodeModules, name)).catch(() => [] as string[])) {
        dirs.push(join(nodeModules, name, scoped));
      }
    } else {
      dirs.push(join(nodeModules, name));
    }
  }
  return dirs;
}

async function loadPackage(dir: string, registry: PluginRegistry): Promise<void> {
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return; // not a package
  }
  if (pkg.datamesh === undefined) return;
  const packageName = pkg.name ?? dir;
  const refuse = (reason: string) => registry.refuse({ packageName, packageDir: dir, reason });

  const read = readManifest(pkg);
  if ('problems' in read) return refuse(`malformed plugin manifest: ${read.problems.join('; ')}`);
  const { manifest } = read;

  if (!semver.validRange(manifest.contract)) {
    return refuse(`"datamesh.contract" is not a semver range: "${manifest.contract}"`);
  }
  if (!semver.satisfies(CONTRACT_VERSION, manifest.contract)) {
    return refuse(
      `built for plugin contract ${manifest.contract}, but this datamesh implements contract ${CONTRACT_VERSION}; ` +
        `use a version of ${packageName} whose "datamesh.contract" includes ${CONTRACT_VERSION} (e.g. "^${semver.major(CONTRACT_VERSION)}.0.0")`,
    );
  }

  const entryPath = resolve(dir, manifest.entry);
  if (!(await stat(entryPath).catch(() => undefined))) {
    return refuse(`entry "${manifest.entry}" not found at ${entryPath} (is the package built?)`);
  }
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(entryPath).href)) as Record<string, unknown>;
  } catch (error) {
    return refuse(`entry "${manifest.entry}" failed to load: ${(error as Error).message}`);
  }

  const plugins = Object.values(exports).filter(isPlugin) as Plugin[];
  const plugin = plugins.find((p) => p.kind === manifest.kind && p.name === manifest.name);
  if (!plugin) {
    const found = plugins.map((p) => `${p.kind} "${p.name}"`).join(', ');
    return refuse(
      `entry "${manifest.entry}" exports no ${manifest.kind} plugin named "${manifest.name}" made with define${capitalise(manifest.kind)}()` +
        (found ? ` (it exports ${found})` : ''),
    );
  }
  if (!apiCompatible(plugin.apiVersion)) {
    return refuse(
      `plugin was built with contract ${plugin.apiVersion}; this datamesh implements ${CONTRACT_VERSION} (same major, not newer minor)`,
    );
  }
  registry.add({ plugin, packageName, packageVersion: pkg.version ?? '0.0.0', packageDir: dir });
}

function apiCompatible(apiVersion: string): boolean {
  const ours = semver.parse(CONTRACT_VERSION)!;
  const theirs = semver.parse(apiVersion);
  return theirs !== null && theirs.major === ours.major && theirs.minor <= ours.minor;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
