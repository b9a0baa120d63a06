import { createRequire } from 'node:module';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { KEBAB_CASE_PATTERN } from '@datamesh/core';
import { contractRange } from './plugin-contract.js';
import { CLI_ROOT } from './plugin-loader.js';

/** The files a new processor package starts from (placeholders `__NAME__`, `__EXPORT__`, …), shipped with the CLI. */
export const PROCESSOR_TEMPLATE_DIR = join(CLI_ROOT, 'templates', 'processor');

/** Tool versions the scaffold's package.json asks for: those the datamesh packages themselves are built and tested with. */
const TOOLCHAIN = { '@types/node': '^24.0.0', typescript: '~5.9.3', vitest: '^4.0.0' } as const;

const NAME = new RegExp(KEBAB_CASE_PATTERN);
// npm's rules for new package names: lowercase, URL-safe, an optional @scope, at most 214 characters.
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** A user's mistake in what they asked for: the command reports it with exit code 2. */
export class ScaffoldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScaffoldError';
  }
}

export interface ProcessorScaffoldOptions {
  /** The plugin name (kebab-case), as pipelines say `plugin: <name>`. */
  readonly name: string;
  /** Where to create the package; must not exist or be empty. */
  readonly dir: string;
  /** The npm package name; `datamesh-processor-<name>` by default. */
  readonly packageName?: string | undefined;
}

export interface ProcessorScaffold {
  readonly dir: string;
  readonly name: string;
  readonly packageName: string;
  readonly exportName: string;
  /** The `datamesh.contract` range written: `^<major>.<minor>.0` of the contract this CLI implements. */
  readonly contract: string;
  readonly coreVersion: string;
  readonly testkitVersion: string;
  /** Paths relative to `dir`, sorted. */
  readonly files: readonly string[];
}

/** `order-flags` → `orderFlagsProcessor`. */
export function exportNameOf(name: string): string {
  return `${name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())}Processor`;
}

/** Throws a ScaffoldError saying what is wrong with a plugin or package name, and what would do. */
export function validateNames(name: string, packageName: string): void {
  if (!NAME.test(name)) {
    throw new ScaffoldError(
      `processor name must be kebab-case: lowercase letters, digits and single dashes, starting with a letter ` +
        `(e.g. "order-flags"); got "${name}"`,
    );
  }
  if (!PACKAGE_NAME.test(packageName) || packageName.length > 214) {
    throw new ScaffoldError(
      `"${packageName}" is not a valid npm package name: lowercase letters, digits, ".", "_", "~" and "-", ` +
        `optionally under a scope (e.g. "datamesh-processor-${name}" or "@acme/datamesh-processor-${name}")`,
    );
  }
}

/**
 * The versions of the SDK packages a new plugin builds on: the `@datamesh/core` this CLI runs with, and the
 * `@datamesh/testkit` released with it (the CLI's package.json names it, so releases keep it current).
 */
export async function sdkVersions(): Promise<{ core: string; testkit: string }> {
  const require = createRequire(import.meta.url);
  const core = (
    JSON.parse(await readFile(require.resolve('@datamesh/core/package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const cli = JSON.parse(await readFile(join(CLI_ROOT, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const testkit = cli.devDependencies?.['@datamesh/testkit']?.replace(/^[\^~=]/, '');
  if (!testkit) throw new Error(`${join(CLI_ROOT, 'package.json')} names no @datamesh/testkit version`);
  return { core, testkit };
}

/** The new package's package.json. */
function packageJson(s: Omit<ProcessorScaffold, 'files' | 'dir'>): string {
  const pkg = {
    name: s.packageName,
    version: '0.1.0',
    description: `datamesh processor plugin "${s.name}": flags rows whose numeric field is above a threshold.`,
    type: 'module',
    engines: { node: '>=22' },
    keywords: ['datamesh', 'datamesh-plugin', 'datamesh-processor'],
    exports: {
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './package.json': './package.json',
    },
    files: ['dist', 'README.md'],
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      typecheck: 'tsc --noEmit',
      test: 'vitest run',
      prepack: 'npm run build',
    },
    // What the plugin registry reads: the plugin's kind and name, the module exporting it, and the range of
    // plugin contract versions it is built for.
    datamesh: { kind: 'processor', name: s.name, entry: './dist/index.js', contract: s.contract },
    // `mesh plugins install` (oclif) installs only packages that declare themselves oclif plugins.
    oclif: {},
    // The node's own core is used at run time; a second copy would be a second registry of types.
    peerDependencies: { '@datamesh/core': `^${s.coreVersion}` },
    devDependencies: {
      '@datamesh/core': s.coreVersion,
      '@datamesh/testkit': s.testkitVersion,
      ...TOOLCHAIN,
    },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

async function templateFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(PROCESSOR_TEMPLATE_DIR, join(e.parentPath, e.name)))
    .sort();
}

/** Fails unless `dir` is missing or an empty directory. */
async function assertFreeDir(dir: string): Promise<void> {
  const found = await stat(dir).catch(() => undefined);
  if (!found) return;
  if (!found.isDirectory()) throw new ScaffoldError(`${dir} exists and is not a directory`);
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new ScaffoldError(
      `${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}): ` +
        `choose a new or empty directory with --dir`,
    );
  }
}

/**
 * Writes a standalone processor package into `dir`: package.json (with its `datamesh` and `oclif` keys), the
 * TypeScript and vitest set-up, an example processor with unit and conformance tests, a README and examples.
 */
export async function scaffoldProcessor(options: ProcessorScaffoldOptions): Promise<ProcessorScaffold> {
  const packageName = options.packageName ?? `datamesh-processor-${options.name}`;
  validateNames(options.name, packageName);
  await assertFreeDir(options.dir);
  const versions = await sdkVersions();
  const scaffold = {
    name: options.name,
    packageName,
    exportName: exportNameOf(options.name),
    contract: contractRange(),
    coreVersion: versions.core,
    testkitVersion: versions.testkit,
  };
  const replacements: [string, string][] = [
    ['__METRIC_NAME__', options.name.replace(/-/g, '_')],
    ['__PACKAGE__', packageName],
    ['__EXPORT__', scaffold.exportName],
    ['__CONTRACT__', scaffold.contract],
    ['__NAME__', options.name],
  ];
  const fill = (text: string) => replacements.reduce((t, [from, to]) => t.split(from).join(to), text);

  const written: string[] = [];
  const write = async (path: string, content: string) => {
    const target = join(options.dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { flag: 'wx' });
    written.push(path.split(sep).join('/'));
  };
  await mkdir(options.dir, { recursive: true });
  for (const file of await templateFiles(PROCESSOR_TEMPLATE_DIR)) {
    // npm never packs a file named .gitignore, so the template holds it as `gitignore`.
    const path = fill(file === 'gitignore' ? '.gitignore' : file);
    await write(path, fill(await readFile(join(PROCESSOR_TEMPLATE_DIR, file), 'utf8')));
  }
  await write('package.json', packageJson(scaffold));
  return { ...scaffold, dir: options.dir, files: written.sort() };
}
