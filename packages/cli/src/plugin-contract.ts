import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import semver from 'semver';
import { CONTRACT_VERSION } from '@datamesh/core';

/** One published version of a package, as `npm view <name>@<spec> name version datamesh --json` shows it. */
export interface PublishedVersion {
  readonly version: string;
  /** The package's `datamesh` key; undefined when it declares none (not a datamesh plugin). */
  readonly datamesh?: { readonly contract?: unknown; readonly [key: string]: unknown };
}

/** Reads published versions: `spec` is a tag, a version or a range; undefined when the registry has none. */
export type ViewVersions = (name: string, spec: string) => Promise<readonly PublishedVersion[] | undefined>;

/** True when a plugin declaring `range` as its `datamesh.contract` is accepted by a registry implementing `contract`. */
export function contractFits(range: unknown, contract = CONTRACT_VERSION): boolean {
  return typeof range === 'string' && semver.validRange(range) !== null && semver.satisfies(contract, range);
}

/**
 * Why `mesh plugins install <name>@<spec>` must not install the package, or undefined when it may: the version npm
 * would install declares a `datamesh.contract` range that does not include the contract this mesh implements
 * (or no valid range). Packages without a `datamesh` key, and packages the registry does not know, are left to
 * the installer. The refusal names the published versions that fit, if any.
 */
export async function contractRefusal(
  name: string,
  spec: string,
  view: ViewVersions,
  contract = CONTRACT_VERSION,
  bin = 'mesh',
): Promise<string | undefined> {
  const versions = await view(name, spec);
  if (!versions || versions.length === 0) return undefined;
  // npm installs the highest version a range allows (a tag or a version names exactly one).
  const chosen = [...versions].sort((a, b) => semver.rcompare(a.version, b.version))[0]!;
  if (chosen.datamesh === undefined) return undefined;
  const range = chosen.datamesh.contract;
  if (contractFits(range, contract)) return undefined;

  const what =
    typeof range === 'string' && semver.validRange(range) !== null
      ? `is built for plugin contract ${range}`
      : `declares no valid "datamesh.contract" range (${JSON.stringify(range) ?? 'none'})`;
  const lines = [
    `${name}@${chosen.version} ${what}, but this ${bin} implements plugin contract ${contract}: its nodes would ` +
      `refuse it, so it was not installed.`,
    `A plugin fits when its "datamesh.contract" includes ${contract} (e.g. "^${semver.major(contract)}.0.0" or ` +
      `"${contractRange(contract)}").`,
  ];
  const all = (await view(name, '>=0.0.0').catch(() => undefined)) ?? [];
  const fitting = all
    .filter((v) => v.datamesh !== undefined && contractFits(v.datamesh.contract, contract))
    .map((v) => v.version)
    .sort(semver.rcompare);
  if (fitting.length > 0) {
    lines.push(
      `Versions of ${name} that fit: ${fitting.slice(0, 5).join(', ')}${fitting.length > 5 ? ', …' : ''}. ` +
        `Install one with: ${bin} plugins install ${name}@${fitting[0]}`,
    );
  } else {
    lines.push(
      `No published version of ${name} fits: ask its authors for a build against contract ${contractRange(contract)}.`,
    );
  }
  return lines.join('\n');
}

/** The contract range a new plugin declares: this contract's major and minor, with any later minor or patch. */
export function contractRange(version = CONTRACT_VERSION): string {
  return `^${semver.major(version)}.${semver.minor(version)}.0`;
}

/** How `npm` is run: the copy @oclif/plugin-plugins installs with (so both read the same config), else PATH's. */
async function npmCommand(): Promise<{ file: string; args: string[] }> {
  try {
    const require = createRequire(import.meta.url);
    const fromPlugins = createRequire(require.resolve('@oclif/plugin-plugins'));
    const manifest = fromPlugins.resolve('npm/package.json');
    const { bin } = JSON.parse(await readFile(manifest, 'utf8')) as { bin: { npm: string } };
    return { file: process.execPath, args: [join(dirname(manifest), bin.npm)] };
  } catch {
    return { file: 'npm', args: [] };
  }
}

/**
 * Reads published versions with `npm view`, the way `mesh plugins install` installs: the same npm, its config
 * (`.npmrc`, `npm_config_*`), and `--registry` when the CLI sets one (`MESH_NPM_REGISTRY`).
 */
export function npmView(
  options: { registry?: string | undefined; cwd?: string | undefined } = {},
): ViewVersions {
  return async (name, spec) => {
    const npm = await npmCommand();
    const args = [
      ...npm.args,
      'view',
      `${name}@${spec}`,
      'name',
      'version',
      'datamesh',
      '--json',
      '--loglevel=error',
      ...(options.registry ? [`--registry=${options.registry}`] : []),
    ];
    const cwd = options.cwd && existsSync(options.cwd) ? options.cwd : homedir();
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(npm.file, args, { cwd, timeout: 60_000, maxBuffer: 16 << 20 }));
    } catch {
      return undefined; // not found, or the registry cannot be reached: the installer reports it
    }
    if (stdout.trim() === '') return [];
    const parsed = JSON.parse(stdout) as PublishedVersion | PublishedVersion[];
    return (Array.isArray(parsed) ? parsed : [parsed]).filter((v) => semver.valid(v.version) !== null);
  };
}
