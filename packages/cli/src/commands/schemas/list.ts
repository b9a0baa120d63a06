import { Flags } from '@oclif/core';
import { MeshCommand } from '../../base-command.js';
import { registryClient, registryUrlFlag } from '../../schema-registry-flags.js';

interface SubjectListing {
  readonly subject: string;
  readonly versions: readonly number[];
  /** The newest version and its schema id. */
  readonly latest: { readonly version: number; readonly id: number };
}

export default class SchemasList extends MeshCommand {
  static override summary =
    'List the subjects of a schema registry with their versions and latest schema id.';
  static override description =
    "Asks the registry (the local node's by default, or any Confluent-compatible one with --url) for its subjects, " +
    'then each subject for its versions and the id of the newest. With --deleted, soft-deleted subjects and versions too.';
  static override examples = [
    '<%= config.bin %> schemas list',
    '<%= config.bin %> schemas list --url http://127.0.0.1:9500/schema-registry --json',
    '<%= config.bin %> schemas list --url http://registry:8081 --deleted',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    url: registryUrlFlag,
    deleted: Flags.boolean({ description: 'Include soft-deleted subjects and versions.' }),
  };

  async run(): Promise<{ registry: string; subjects: SubjectListing[] }> {
    const { flags } = await this.parse(SchemasList);
    const client = registryClient(flags.url);
    const options = { deleted: flags.deleted };
    const names = await client.subjects(options);
    const subjects = await mapLimited(names, 8, async (subject) => {
      const versions = await client.versions(subject, options);
      const latest = await client.version(subject, versions.at(-1)!, options);
      return { subject, versions, latest: { version: latest.version, id: latest.id } };
    });
    if (!this.jsonEnabled()) {
      if (subjects.length === 0) this.log(`no subjects in the registry at ${client.url}`);
      else {
        const width = Math.max('SUBJECT'.length, ...subjects.map((s) => s.subject.length));
        const versionsWidth = Math.max(
          'VERSIONS'.length,
          ...subjects.map((s) => s.versions.join(' ').length),
        );
        this.log(`${'SUBJECT'.padEnd(width)}  ${'VERSIONS'.padEnd(versionsWidth)}  LATEST ID`);
        for (const s of subjects)
          this.log(
            `${s.subject.padEnd(width)}  ${s.versions.join(' ').padEnd(versionsWidth)}  ${s.latest.id}`,
          );
      }
    }
    return { registry: client.url, subjects };
  }
}

/** `map` with at most `limit` calls in flight, results in input order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  map: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
