#!/usr/bin/env node
// Installs, starts, stops and reports the real services datamesh's tests and local runs use.
//   node tools/services/cli.mjs install|up|down|status [names…]
// With no names, the command applies to every service. Each service is one module in this folder exporting
// { name, description, install(), up(), down(), status() }; status() resolves to { ok, detail }.
import * as prometheus from './prometheus.mjs';
import process from 'node:process';
import { ServiceError } from './lib/system.mjs';

/** Every known service, in start order. Add a service by writing its module and listing it here. */
const SERVICES = [prometheus];

const COMMANDS = ['install', 'up', 'down', 'status'];

function usage() {
  const names = SERVICES.map((s) => `  ${s.name.padEnd(12)} ${s.description}`).join('\n');
  return `usage: node tools/services/cli.mjs <${COMMANDS.join('|')}> [names…]\n\nservices:\n${names}\n`;
}

function select(names) {
  if (names.length === 0) return SERVICES;
  const unknown = names.filter((n) => !SERVICES.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new ServiceError(
      `unknown service ${unknown.join(', ')}; known: ${SERVICES.map((s) => s.name).join(', ')}`,
    );
  }
  return names.map((n) => SERVICES.find((s) => s.name === n));
}

async function main(argv) {
  const [command, ...names] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage());
    return command === undefined ? 2 : 0;
  }
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`unknown command "${command}"\n${usage()}`);
    return 2;
  }
  const services = select(names);
  // Stop in reverse start order so dependants go before what they depend on.
  const ordered = command === 'down' ? [...services].reverse() : services;
  let failed = false;
  for (const service of ordered) {
    if (command === 'status') {
      const { ok, detail } = await service.status();
      process.stdout.write(`${service.name.padEnd(12)} ${ok ? 'ok  ' : 'DOWN'} ${detail}\n`);
      failed ||= !ok;
    } else {
      await service[command]();
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
