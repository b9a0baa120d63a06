import { relative, resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { EXIT, MeshCommand } from '../../base-command.js';
import { scaffoldProcessor, ScaffoldError } from '../../processor-scaffold.js';

export default class ProcessorNew extends MeshCommand {
  static override summary = 'Create a new processor plugin package, ready to test, publish and install.';
  static override description =
    'Writes a standalone npm package (not part of any workspace): package.json with its `datamesh` key (kind, ' +
    'name, entry, the plugin contract range this mesh implements) and `oclif` key, TypeScript and vitest set-up, ' +
    'an example processor built with defineProcessor (a TypeBox config schema, a plan with schemas, lineage and ' +
    'consumed fields, a process step), its unit tests and the conformance suite of @datamesh/testkit, and a README. ' +
    'The directory must be new or empty.';
  static override examples = [
    '<%= config.bin %> processor new order-flags',
    '<%= config.bin %> processor new order-flags --dir ~/src/order-flags --package @acme/datamesh-processor-order-flags',
  ];
  static override args = {
    name: Args.string({
      description: 'Plugin name, kebab-case (what pipelines write as `plugin:`).',
      required: true,
    }),
  };
  static override flags = {
    dir: Flags.string({ char: 'd', description: 'Directory to create the package in. Default: ./<name>.' }),
    package: Flags.string({
      char: 'p',
      description: 'npm package name. Default: datamesh-processor-<name>.',
    }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(ProcessorNew);
    const dir = resolve(flags.dir ?? args.name);
    let scaffold;
    try {
      scaffold = await scaffoldProcessor({ name: args.name, dir, packageName: flags.package });
    } catch (error) {
      if (error instanceof ScaffoldError) this.error(error.message, { exit: EXIT.invalid });
      throw error;
    }
    if (!this.jsonEnabled()) {
      const shown = relative(process.cwd(), dir) || '.';
      this.log(
        `created ${scaffold.packageName} in ${shown}: processor "${scaffold.name}" (${scaffold.exportName}), ` +
          `contract ${scaffold.contract}, @datamesh/core ${scaffold.coreVersion}`,
      );
      for (const file of scaffold.files) this.log(`  ${file}`);
      const bin = this.config.bin;
      const steps: [string, string][] = [
        [`cd ${shown}`, ''],
        ['npm install', ''],
        ['npm test', 'unit tests and the conformance suite'],
        [`${bin} plugins link .`, 'try it in this mesh'],
        ['npm publish', 'builds first'],
        [`${bin} plugins install ${scaffold.packageName}`, 'on every node that runs it'],
      ];
      const width = Math.max(...steps.map(([command]) => command.length));
      this.log('\nnext:');
      for (const [command, why] of steps)
        this.log(`  ${why ? `${command.padEnd(width)}  # ${why}` : command}`);
    }
    return scaffold;
  }
}
