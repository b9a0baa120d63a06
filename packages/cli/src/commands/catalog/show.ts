import { Args } from '@oclif/core';
import { EXIT, MeshCommand } from '../../base-command.js';
import { fetchCatalog, nodeUrlFlag, type CatalogTopic } from '../../catalog-client.js';

export default class CatalogShow extends MeshCommand {
  static override summary =
    'Print one catalogued topic: who writes and owns it, and its latest key and value schemas.';
  static override description =
    'Asks a running node for the topic’s catalog entry and the newest schemas registered under its subjects ' +
    '(a JSON sink output has none). Exit 2 when the topic is not in the catalog.';
  static override examples = [
    '<%= config.bin %> catalog show shop.public.orders',
    '<%= config.bin %> catalog show billing.orders --json',
  ];
  static override enableJsonFlag = true;
  static override args = { topic: Args.string({ required: true, description: 'The topic.' }) };
  static override flags = { url: nodeUrlFlag };

  async run(): Promise<CatalogTopic> {
    const { args, flags } = await this.parse(CatalogShow);
    const topic = await fetchCatalog<CatalogTopic>(flags.url, `/${encodeURIComponent(args.topic)}`);
    if (!topic) {
      this.error(`topic "${args.topic}" is not in the catalog; mesh catalog list shows the topics it has`, {
        exit: EXIT.invalid,
      });
    }
    if (!this.jsonEnabled()) {
      this.log(`topic        ${topic.topic}`);
      this.log(`written by   ${topic.kind} ${topic.pipeline}/${topic.stage} (plugin ${topic.plugin})`);
      this.log(`owner        ${topic.owner ?? '-'}`);
      this.log(`description  ${topic.description ?? '-'}`);
      this.log(`format       ${topic.format}`);
      for (const [what, schema, subject] of [
        ['key', topic.keySchema, topic.keySubject],
        ['value', topic.valueSchema, topic.valueSubject],
      ] as const) {
        if (!subject) continue;
        if (!schema) this.log(`${what} schema   none registered yet under ${subject}`);
        else {
          this.log(`${what} schema   ${subject} version ${schema.version} (id ${schema.id})`);
          this.log(JSON.stringify(schema.schema, null, 2));
        }
      }
    }
    return topic;
  }
}
