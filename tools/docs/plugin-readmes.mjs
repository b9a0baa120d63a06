#!/usr/bin/env node
// Writes each plugin package's config reference into its README, between the markers
// <!-- config:start --> and <!-- config:end -->, from the plugin's own config schema.
//   node tools/docs/plugin-readmes.mjs           update the READMEs
//   node tools/docs/plugin-readmes.mjs --check   exit 1 if a README is out of date
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const START = '<!-- config:start -->';
const END = '<!-- config:end -->';

export async function renderedReadmes() {
  const { configDocs, isPlugin } = await import(
    pathToFileURL(join(root, 'packages/core/dist/index.js')).href
  );
  const results = [];
  for (const name of (await readdir(join(root, 'packages'))).sort()) {
    const dir = join(root, 'packages', name);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    if (!pkg.datamesh) continue;
    const exports = await import(pathToFileURL(join(dir, pkg.datamesh.entry)).href);
    const plugin = Object.values(exports).find((v) => isPlugin(v) && v.name === pkg.datamesh.name);
    if (!plugin)
      throw new Error(`${pkg.name}: no plugin "${pkg.datamesh.name}" in ${pkg.datamesh.entry} (build first)`);
    const readmePath = join(dir, 'README.md');
    const current = await readFile(readmePath, 'utf8').catch(() => '');
    const start = current.indexOf(START);
    const end = current.indexOf(END);
    if (start < 0 || end < start) throw new Error(`${readmePath} has no ${START} … ${END} markers`);
    const table = `${START}\n${configDocs(plugin.config)}\n${END}`;
    results.push({
      path: readmePath,
      current,
      next: current.slice(0, start) + table + current.slice(end + END.length),
    });
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = process.argv.includes('--check');
  const stale = [];
  for (const readme of await renderedReadmes()) {
    if (readme.current === readme.next) continue;
    stale.push(readme.path);
    if (!check) await writeFile(readme.path, readme.next);
  }
  if (check && stale.length > 0) {
    console.error(`out of date (run node tools/docs/plugin-readmes.mjs):\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
  console.log(check ? 'plugin READMEs are up to date' : `updated ${stale.length} README(s)`);
}
