import { Args, Flags } from '@oclif/core';
import { SourceDocument, planPipeline } from '@datamesh/core';
import { EXIT, MeshCommand } from '../../base-command.js';

export default class SourceSnapshot extends MeshCommand {
  static override summary = 'Ask a running source for a snapshot: all its tables, some, or some keys of one.';
  static override description =
    'Plans the pipeline file (as the node does), finds the source stage and asks its plugin for a snapshot through the ' +
    'source system itself (the Postgres source writes a row to its signal table). The running node picks the request ' +
    'up in log order, reads the rows in chunks interleaved with live changes (no locks), and resumes it after a ' +
    'crash; its log shows progress. Exit 2 for a stage, table or key the source does not have.';
  static override examples = [
    '<%= config.bin %> source snapshot pipeline.yaml --source shop',
    '<%= config.bin %> source snapshot pipeline.yaml --source shop --table public.orders',
    '<%= config.bin %> source snapshot pipeline.yaml --source shop --table public.orders --key 42 --key 43',
    '<%= config.bin %> source snapshot pipeline.yaml --source shop --table public.lines --key \'["42","1"]\'',
  ];
  static override enableJsonFlag = true;
  static override args = {
    file: Args.string({ required: true, description: 'Pipeline file with the source.' }),
  };
  static override flags = {
    source: Flags.string({ char: 's', required: true, description: 'Name of the source stage.' }),
    table: Flags.string({
      char: 't',
      multiple: true,
      description: 'A stream (table) to read again, e.g. public.orders (repeatable; default: all).',
    }),
    key: Flags.string({
      char: 'k',
      multiple: true,
      description:
        'Only this key of the one --table: a value, or a JSON array of values for a composite key.',
    }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(SourceSnapshot);
    const registry = await this.registry(flags['plugin-dir'] ?? []);
    const plan = await planPipeline(await SourceDocument.read(args.file, { env: process.env }), registry);
    const source = plan.sources.find((s) => s.stage.name === flags.source);
    if (!source) {
      this.error(
        `pipeline "${plan.name}" has no source "${flags.source}"; its sources: ${plan.sources.map((s) => s.stage.name).join(', ')}`,
        { exit: EXIT.invalid },
      );
    }
    if (!source.plugin.requestSnapshot) {
      this.error(`source plugin "${source.plugin.name}" cannot take snapshots on request`, {
        exit: EXIT.invalid,
      });
    }
    const keys = flags.key?.map(parseKey);
    if (keys && (flags.table?.length ?? 0) !== 1) {
      this.error('--key needs exactly one --table (keys belong to one table)', { exit: EXIT.invalid });
    }
    let id: string;
    try {
      ({ id } = await source.plugin.requestSnapshot(source.config as never, {
        ...(flags.table ? { streams: flags.table } : {}),
        ...(keys ? { keys } : {}),
      }));
    } catch (error) {
      this.error(`source "${flags.source}": ${(error as Error).message}`, { exit: EXIT.invalid });
    }
    const what = keys
      ? `${keys.length} key(s) of ${flags.table![0]}`
      : flags.table
        ? flags.table.join(', ')
        : 'all its tables';
    this.log(
      `snapshot ${id} requested from source "${flags.source}": ${what}. The running node reads it interleaved with ` +
        'live changes; its log reports progress.',
    );
    return { id, source: flags.source, streams: flags.table ?? [], keys: keys ?? [] };
  }
}

/** A key flag: a JSON array of values, or one plain value. Values travel as text, as the database prints them. */
function parseKey(text: string): string[] {
  if (text.trim().startsWith('[')) {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) throw new Error(`--key ${text} is not a JSON array`);
    return parsed.map((v) => String(v));
  }
  return [text];
}
