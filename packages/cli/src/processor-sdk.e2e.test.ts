import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_VERSION } from '@datamesh/core';
import { useServices } from '@datamesh/services/testing';
import { eventually, isolatedHome, mesh, MeshNodeProcess, which } from './__fixtures__/mesh-process.js';
import { npm, npmEnvironment, npmOk, publishPackage, registryToken } from './__fixtures__/npm-registry.js';

// The road a third-party processor takes, for real: the SDK packages published to a local npm registry
// (Verdaccio), `mesh processor new`, the scaffold's own tests, `npm publish`, `mesh plugins install` from the
// registry, a node running it in a pipeline with its metrics, alerts and dashboards — and a version built for
// another contract refused at install.

const packagesDir = fileURLToPath(new URL('../../', import.meta.url));
const PLUGIN = 'e2e-flags';
const PACKAGE = '@datamesh/e2e-processor-flags';
const METRIC = `datamesh_plugin_${PLUGIN.replace(/-/g, '_')}_flagged_events_total`;

let home: string;
let env: NodeJS.ProcessEnv;
let remove: (() => Promise<void>) | undefined;
let registry: string;
let scaffold: string;
const timings: Record<string, number> = {};

async function timed<T>(step: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[step] = (Date.now() - started) / 1000;
  }
}

function meshOk(args: readonly string[], cwd?: string) {
  const result = mesh(args, env, cwd);
  expect(result.status, `mesh ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

beforeAll(async () => {
  const isolated = await isolatedHome('datamesh-sdk-e2e-');
  home = isolated.home;
  remove = isolated.remove;
  ({
    verdaccio: { url: registry },
  } = await useServices('verdaccio', 'prometheus'));
  const token = await registryToken(registry, 'datamesh-e2e', 'datamesh-e2e-secret');
  env = await npmEnvironment(isolated.env, home, registry, token);

  // What a plugin author installs: the SDK as built here (`nx run-many -t build` runs before the tests).
  await timed('publish @datamesh/core and @datamesh/testkit', async () => {
    const published = await Promise.all(
      ['core', 'testkit'].map((dir) => publishPackage(join(packagesDir, dir), env)),
    );
    for (const p of published) expect(p.version).toMatch(/^\d+\.\d+\.\d+/);
    // The test plugin from earlier runs goes, so the versions below are the only ones.
    await npm(['unpublish', PACKAGE, '--force'], { env });
  });
}, 300_000);

afterAll(async () => {
  console.log(
    `processor SDK e2e timings (s): ${Object.entries(timings)
      .map(([step, seconds]) => `${step} ${seconds.toFixed(1)}`)
      .join(', ')}`,
  );
  await remove?.();
});

describe('the processor SDK: scaffold, test, publish, install, run', () => {
  it('mesh processor new writes a standalone package whose unit tests and conformance suite pass', async () => {
    scaffold = join(home, 'src', PLUGIN);
    const created = meshOk(['processor', 'new', PLUGIN, '--dir', scaffold, '--package', PACKAGE, '--json']);
    const result = JSON.parse(created.stdout) as { files: string[]; contract: string };
    const [major, minor] = CONTRACT_VERSION.split('.');
    expect(result.contract).toBe(`^${major}.${minor}.0`);
    expect(result.files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'tsconfig.json',
        'vitest.config.ts',
        `src/${PLUGIN}-processor.ts`,
        `src/${PLUGIN}-processor.test.ts`,
        `src/${PLUGIN}-processor.conformance.test.ts`,
      ]),
    );
    const pkg = JSON.parse(await readFile(join(scaffold, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['datamesh']).toEqual({
      kind: 'processor',
      name: PLUGIN,
      entry: './dist/index.js',
      contract: result.contract,
    });
    expect(pkg['oclif']).toEqual({});

    // A directory that is not empty is refused, saying so.
    const again = mesh(['processor', 'new', PLUGIN, '--dir', scaffold], env);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/is not empty/);

    await timed('npm install (scaffold)', () => npmOk(['install'], { cwd: scaffold, env }));
    // The tests, and the type check of everything (tests too), side by side.
    const [tested] = await timed('npm test + npm run typecheck (scaffold)', () =>
      Promise.all([
        npmOk(['test'], { cwd: scaffold, env }),
        npmOk(['run', 'typecheck'], { cwd: scaffold, env }),
      ]),
    );
    const report = stripVTControlCharacters(tested.stdout);
    expect(report).toMatch(new RegExp(`✓ src/${PLUGIN}-processor.test.ts \\(\\d+ tests\\)`));
    expect(report).toMatch(new RegExp(`✓ src/${PLUGIN}-processor.conformance.test.ts \\(7 tests\\)`));
    expect(report).toMatch(/Test Files +2 passed \(2\)/);
    expect(report).not.toMatch(/failed|skipped/);
  }, 300_000);

  it('npm publish builds it and puts it on the registry', async () => {
    await timed('npm publish (scaffold)', () => npmOk(['publish'], { cwd: scaffold, env }));
    const held = await npmOk(['view', PACKAGE, 'version', 'datamesh.contract', '--json'], {
      env,
    });
    expect(JSON.parse(held.stdout)).toMatchObject({ version: '0.1.0' });
  }, 120_000);

  it('mesh plugins install takes it from the registry; a node runs it between datagen and file, with its metrics', async () => {
    await timed('mesh plugins install', async () => {
      const installed = mesh(['plugins', 'install', PACKAGE], env);
      expect(installed.status, `${installed.stdout}\n${installed.stderr}`).toBe(0);
    });
    const check = mesh(['plugins', 'check', '--json'], env);
    const listed = JSON.parse(check.stdout) as { accepted: { name: string; package: string; dir: string }[] };
    const accepted = listed.accepted.find((p) => p.name === PLUGIN);
    expect(accepted?.package).toBe(`${PACKAGE}@0.1.0`);
    // Installed from the registry into the CLI's data dir, with core as its peer: not the workspace's copy.
    expect(accepted?.dir).toContain(join(home, 'data', 'datamesh', 'node_modules'));

    const out = join(home, 'flagged.jsonl');
    const pipeline = join(home, 'flags.yaml');
    await writeFile(
      pipeline,
      'apiVersion: datamesh/v1\nkind: Pipeline\nname: p\n' +
        'sources:\n  - { name: orders, plugin: datagen, config: { rate: 0, limit: 400 } }\n' +
        `processors:\n  - { name: flags, plugin: ${PLUGIN}, inputs: [orders], config: { field: amount_cents, threshold: 50000, flag: big } }\n` +
        `sinks:\n  - { name: out, plugin: file, inputs: [flags], config: { path: ${out} } }\n`,
    );
    const nodeConfig = join(home, 'node.yaml');
    await writeFile(
      nodeConfig,
      `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, 'node-data')}\nhttp: { port: 0 }\npipelines: [${pipeline}]\n`,
    );
    const node = new MeshNodeProcess(['--config', nodeConfig], env);
    try {
      const url = await node.url();
      const metrics = await eventually(async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return /datamesh_events_out_total\{pipeline="p",stage="out",plugin="file",kind="sink"\} 4\d\d/.test(
          text,
        )
          ? text
          : undefined;
      });
      expect(metrics).toMatch(
        new RegExp(
          `datamesh_events_in_total\\{pipeline="p",stage="flags",plugin="${PLUGIN}",kind="processor"\\} 4\\d\\d`,
        ),
      );
      expect(metrics).toMatch(
        new RegExp(
          `datamesh_processing_seconds_count\\{pipeline="p",stage="flags",plugin="${PLUGIN}",kind="processor"\\} \\d+`,
        ),
      );
      const flagged = new RegExp(`${METRIC}\\{pipeline="p",stage="flags",plugin="${PLUGIN}"\\} (\\d+)`).exec(
        metrics,
      );
      expect(Number(flagged?.[1])).toBeGreaterThan(0);

      const rows = (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { after: { amount_cents: number; big: boolean | null } | null })
        .flatMap((l) => (l.after ? [l.after] : []));
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.big === r.amount_cents > 50_000)).toBe(true);
      expect(new Set(rows.map((r) => r.big))).toEqual(new Set([true, false]));
    } finally {
      node.child.kill('SIGTERM');
    }
    expect(await node.exited).toBe(0);
  }, 180_000);

  it('alerts and dashboards include it, and the rules pass promtool', async () => {
    const rulesFile = join(home, 'alerts.yml');
    meshOk(['alerts', 'generate', '--out', rulesFile]);
    const rules = await readFile(rulesFile, 'utf8');
    expect(rules).toContain(`name: datamesh-plugin-${PLUGIN}`);
    expect(rules).toContain(`plugin="${PLUGIN}"`);
    const promtool = which('promtool');
    if (!promtool) throw new Error('promtool is not on PATH; run: npm run services -- install prometheus');
    const checked = spawnSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toMatch(/SUCCESS: \d+ rules found/);

    const dashboard = JSON.parse(meshOk(['dashboards', 'generate', '--plugin', PLUGIN]).stdout) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    expect(dashboard.panels.map((p) => p.title)).toContain(`${PLUGIN} (processor)`);
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.some((e) => e.includes(`plugin="${PLUGIN}"`))).toBe(true);
  }, 60_000);

  it('a version built for another plugin contract is refused at install, saying which versions fit', async () => {
    const manifest = join(scaffold, 'package.json');
    const pkg = JSON.parse(await readFile(manifest, 'utf8')) as {
      version: string;
      datamesh: { contract: string };
    };
    pkg.version = '0.2.0';
    pkg.datamesh.contract = '^9.0.0';
    await writeFile(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
    // dist/ is built already; only package.json differs.
    await npmOk(['publish', '--ignore-scripts'], { cwd: scaffold, env });

    const refused = await timed('refused install', async () => mesh(['plugins', 'install', PACKAGE], env));
    expect(refused.status).toBe(2);
    const message = refused.stderr.replace(/\s*›\s*/g, ' ');
    expect(message).toContain(
      `${PACKAGE}@0.2.0 is built for plugin contract ^9.0.0, but this mesh implements plugin contract ${CONTRACT_VERSION}`,
    );
    expect(message).toContain(`Versions of ${PACKAGE} that fit: 0.1.0.`);
    expect(message).toContain(`mesh plugins install ${PACKAGE}@0.1.0`);

    // Nothing changed: 0.1.0 is still the installed version.
    const installed = JSON.parse(
      await readFile(
        join(home, 'data', 'datamesh', 'node_modules', ...PACKAGE.split('/'), 'package.json'),
        'utf8',
      ),
    ) as { version: string };
    expect(installed.version).toBe('0.1.0');
  }, 60_000);
});
