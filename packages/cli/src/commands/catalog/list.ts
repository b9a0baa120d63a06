import { Flags } from '@oclif/core';
import type { CatalogEntry } from '@datamesh/core';
import { MeshCommand } from '../../base-command.js';
import { fetchCatalog, nodeUrlFlag } from '../../catalog-client.js';

export default class CatalogList extends MeshCommand {
  static override summary =
    'List the catalogued topics: source streams, shared processor outputs and sink output topics.';
  static override description =
    'Asks a running node for the catalog it keeps in the transport (every node on the same transport sees every ' +
    'pipeline’s entries): each topic with the pipeline and stage that write it, its owner, description and format. ' +
    'mesh catalog show <topic> prints one with its schemas.';
  static override examples = [
    '<%= config.bin %> catalog list',
    '<%= config.bin %> catalog list --owner team-billing --json',
    '<%= config.bin %> catalog list --url http://10.0.0.5:9464',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    url: nodeUrlFlag,
    owner: Flags.string({ description: 'Only topics of this owner.' }),
    kind: Flags.string({
      options: ['source', 'processor', 'sink'],
      description: 'Only topics written by this kind of stage.',
    }),
  };

  async run(): Promise<{ topics: CatalogEntry[] }> {
    const { flags } = await this.parse(CatalogList);
    const all = (await fetchCatalog<{ topics: CatalogEntry[] }>(flags.url))!.topics;
    const topics = all.filter(
      (t) =>
        (flags.owner === undefined || t.owner === flags.owner) &&
        (flags.kind === undefined || t.kind === flags.kind),
    );
    if (!this.jsonEnabled()) {
      if (topics.length === 0) this.log(all.length === 0 ? 'the catalog is empty' : 'no topic matches');
      const rows = topics.map((t) => [
        t.topic,
        t.kind,
        `${t.pipeline}/${t.stage}`,
        t.owner ?? '-',
        t.format,
        t.description ?? '',
      ]);
      const header = ['TOPIC', 'KIND', 'WRITTEN BY', 'OWNER', 'FORMAT', 'DESCRIPTION'];
      if (rows.length > 0) {
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows])
          this.log(
            row
              .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
              .join('  ')
              .trimEnd(),
          );
      }
    }
    return { topics };
  }
}
