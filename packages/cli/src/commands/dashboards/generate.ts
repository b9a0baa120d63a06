import { Flags } from '@oclif/core';
import { generateDashboard } from '@datamesh/core';
import { MeshCommand } from '../../base-command.js';
import { writeArtifact } from '../../artifact-output.js';
import { selectedPlugins } from '../alerts/generate.js';

export default class DashboardsGenerate extends MeshCommand {
  static override summary = 'Generate a Grafana dashboard (JSON) for every registered plugin.';
  static override description =
    'A row per plugin with throughput, errors, latency percentiles, batch sizes, lag and flush times, filtered by ' +
    'pipeline and stage variables. Import it in Grafana with a Prometheus data source.';
  static override examples = ['<%= config.bin %> dashboards generate --out datamesh-dashboard.json'];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'Write to this file instead of stdout.' }),
    plugin: Flags.string({ multiple: true, description: 'Only these plugins (by name).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DashboardsGenerate);
    const plugins = await selectedPlugins(this, flags['plugin-dir'] ?? [], flags.plugin);
    const text = await writeArtifact(JSON.stringify(generateDashboard(plugins), null, 2), flags.out);
    if (text !== undefined) process.stdout.write(`${text}\n`);
    else this.logToStderr(`wrote a dashboard for ${plugins.length} plugin(s) to ${flags.out}`);
  }
}
