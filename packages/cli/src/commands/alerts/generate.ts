import { Flags } from '@oclif/core';
import { generateAlertRules } from '@datamesh/core';
import { MeshCommand } from '../../base-command.js';
import { writeArtifact } from '../../artifact-output.js';

export default class AlertsGenerate extends MeshCommand {
  static override summary = 'Generate Prometheus alert rules for every registered plugin.';
  static override description =
    'One rule group per plugin (error rate, stalled progress, growing lag, restarts, dead letters) over the standard ' +
    'metrics every task exports. The output passes `promtool check rules`.';
  static override examples = [
    '<%= config.bin %> alerts generate > datamesh-alerts.yml',
    '<%= config.bin %> alerts generate --out rules/datamesh.yml',
  ];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'Write to this file instead of stdout.' }),
    plugin: Flags.string({ multiple: true, description: 'Only these plugins (by name).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AlertsGenerate);
    const plugins = await selectedPlugins(this, flags['plugin-dir'] ?? [], flags.plugin);
    const text = await writeArtifact(generateAlertRules(plugins), flags.out);
    if (text !== undefined) process.stdout.write(text);
    else this.logToStderr(`wrote alert rules for ${plugins.length} plugin(s) to ${flags.out}`);
  }
}

export async function selectedPlugins(
  command: MeshCommand,
  pluginDirs: readonly string[],
  only: readonly string[] | undefined,
) {
  const registry = await command.registry(pluginDirs);
  const all = registry.list().map((p) => ({ name: p.plugin.name, kind: p.plugin.kind }));
  if (!only || only.length === 0) return all;
  const unknown = only.filter((name) => !all.some((p) => p.name === name));
  if (unknown.length > 0) {
    command.error(
      `unknown plugin(s): ${unknown.join(', ')}; registered: ${all.map((p) => p.name).join(', ')}`,
      { exit: 2 },
    );
  }
  return all.filter((p) => only.includes(p.name));
}
