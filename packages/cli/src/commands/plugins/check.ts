import { MeshCommand, EXIT } from '../../base-command.js';

export default class PluginsCheck extends MeshCommand {
  static override summary = 'List the datamesh plugins the registry accepts, and those it refuses with why.';
  static override description =
    'Looks where a node looks: packages installed next to the CLI and those added with `mesh plugins install` or ' +
    '`mesh plugins link`. Exit code 2 if any plugin was refused.';
  static override examples = ['<%= config.bin %> plugins check', '<%= config.bin %> plugins check --json'];
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(PluginsCheck);
    const registry = await this.registry(flags['plugin-dir'] ?? []);
    const accepted = registry.list().map((p) => ({
      kind: p.plugin.kind,
      name: p.plugin.name,
      version: p.plugin.version,
      package: `${p.packageName}@${p.packageVersion}`,
      dir: p.packageDir,
    }));
    const refused = registry
      .refused()
      .map((r) => ({ package: r.packageName, dir: r.packageDir, reason: r.reason }));
    if (!this.jsonEnabled()) {
      for (const p of accepted) this.log(`${p.kind.padEnd(9)} ${p.name.padEnd(20)} ${p.package}`);
      if (accepted.length === 0) this.log('no datamesh plugin found');
    }
    if (refused.length > 0) process.exitCode = EXIT.invalid;
    return { accepted, refused };
  }
}
