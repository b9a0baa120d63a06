#!/usr/bin/env node
// Installs, starts, stops and reports the real services datamesh's tests and local runs use.
//   node tools/services/cli.mjs install|up|down|status [names…]
// With no names, the command applies to every service. Each service is one module in this folder exporting
// { name, description, install(), up(), down(), status() }; status() resolves to { ok, detail }.
import process from 'node:process';
import { ServiceError } from './lib/system.mjs';
import { withServiceLock } from './lib/lock.mjs';
import { reserveHarnessPorts } from './lib/ports.mjs';
import { loadServices } from './registry.mjs';

const COMMANDS = ['install', 'up', 'down', 'status'];

async function usage() {
  const services = await loadServices();
  const names = services.map((s) => `  ${s.name.padEnd(16)} ${s.description}`).join('\n');
  return `usage: node tools/services/cli.mjs <${COMMANDS.join('|')}> [names…]\n\nservices:\n${names}\n`;
}

async function main(argv) {
  const [command, ...names] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(await usage());
    return command === undefined ? 2 : 0;
  }
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`unknown command "${command}"\n${await usage()}`);
    return 2;
  }
  const services = await loadServices(names);
  if (command === 'up') reserveHarnessPorts();
  // Stop in reverse start order so dependants go before what they depend on.
  const ordered = command === 'down' ? [...services].reverse() : services;
  let failed = false;
  for (const service of ordered) {
    if (command === 'status') {
      const { ok, detail } = await service.status();
      process.stdout.write(`${service.name.padEnd(16)} ${ok ? 'ok  ' : 'DOWN'} ${detail}\n`);
      failed ||= !ok;
    } else {
      // The same lock useServices() takes, so a CLI `up` and a test run never start a server twice.
      await withServiceLock(service.name, () => service[command]());
    }
  }
  return failed ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof ServiceError) {
    process.stderr.write(`services: ${error.message}\n`);
  } else {
    process.stderr.write(
      `services: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exitCode = 1;
}
