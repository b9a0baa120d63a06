#!/usr/bin/env node
// Runs the benchmarks of tools/bench, one child process each, after building the packages they run
// (benchmarks import their dist).
//   npm run bench                                   every benchmark
//   npm run bench -- embedded-transport             one
//   npm run bench -- embedded-transport --events 200000   flags after the names go to each benchmark
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const available = readdirSync(here)
  // `*-peers.mjs` are the peer runners a benchmark imports, not benchmarks of their own.
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.endsWith('-peers.mjs'))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();

const args = process.argv.slice(2).filter((a) => a !== '--');
const firstFlag = args.findIndex((a) => a.startsWith('-'));
const names = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
const selected = names.length > 0 ? names : available;
// Benchmarks that import none of our packages (state-store measures the candidate local stores, installing its
// npm peers into .cache/bench/state-stores itself): run alone, nothing is built first.
const needsNoBuild = new Set(['state-store']);
const buildFirst = !selected.every((n) => needsNoBuild.has(n));

// In dependency order: transport-kafka and the plugins compile against core's dist (sink-kafka also against
// transport-kafka's, filter and projection against expression's); processor-fusion imports the processors' dist;
// postgres-cdc and the sink benchmarks run `mesh`, which loads the plugins from their dist.
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
for (const pkg of [
  'core',
  'transport-kafka',
  'connector-postgres',
  'connector-datagen',
  'expression',
  'processor-filter',
  'processor-projection',
  'processor-mask',
  'processor-join',
  'sink-elasticsearch',
  'sink-kafka',
  'cli',
]) {
  if (!buildFirst) break;
  console.log(`building @datamesh/${pkg} (tsc -p packages/${pkg}/tsconfig.build.json)…`);
  const build = spawnSync(process.execPath, [tsc, '-p', `packages/${pkg}/tsconfig.build.json`], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) {
    if (!existsSync(join(root, `packages/${pkg}/dist/index.js`))) {
      console.error(`the build of ${pkg} failed and left no dist to run against`);
      process.exit(1);
    }
    console.warn(`the build of ${pkg} reported errors; running against what it emitted`);
  }
}

let failed = 0;
for (const name of selected) {
  console.log(`\n=== ${name} ===`);
  const run = spawnSync(process.execPath, [join(here, `${name}.mjs`), ...flags], {
    cwd: root,
    stdio: 'inherit',
  });
  if (run.status !== 0) {
    failed++;
    console.error(`${name} failed (${run.signal ?? `exit ${run.status}`})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
