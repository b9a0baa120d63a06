import { Args, Flags } from '@oclif/core';
import { RegistryRequestError, type VersionSelector } from '@datamesh/core';
import { EXIT, MeshCommand } from '../../base-command.js';
import { registryClient, registryUrlFlag, versionFlagValue } from '../../schema-registry-flags.js';

export default class SchemasGet extends MeshCommand {
  static override summary =
    'Print a schema: a subject version (latest by default), or the schema with an id.';
  static override description =
    'Prints which subject, version and id it is, then the Avro schema, indented. With --json: ' +
    '{subject, version, id, schema} for a subject version, {id, schema, versions: [{subject, version}]} for an id.';
  static override examples = [
    '<%= config.bin %> schemas get orders.orders-value',
    '<%= config.bin %> schemas get orders.orders-value --version 2 --json',
    '<%= config.bin %> schemas get --id 3',
  ];
  static override enableJsonFlag = true;
  static override args = {
    subject: Args.string({ required: false, description: 'Subject (none with --id).' }),
  };
  static override flags = {
    url: registryUrlFlag,
    version: Flags.string({
      char: 'v',
      description: 'Version number, or latest (the default).',
      exclusive: ['id'],
    }),
    id: Flags.integer({ char: 'i', min: 1, description: 'Schema id instead of a subject version.' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(SchemasGet);
    if (flags.id !== undefined && args.subject !== undefined)
      this.error(`pass a subject or --id, not both (got subject "${args.subject}" and --id ${flags.id})`, {
        exit: EXIT.invalid,
      });
    if (flags.id === undefined && args.subject === undefined)
      this.error(
        'name the subject (mesh schemas get <subject>), or pass --id; mesh schemas list shows them',
        {
          exit: EXIT.invalid,
        },
      );
    const client = registryClient(flags.url);
    return flags.id === undefined
      ? this.bySubject(client, args.subject!, versionFlagValue(flags.version))
      : this.byId(client, flags.id);
  }

  private async bySubject(
    client: ReturnType<typeof registryClient>,
    subject: string,
    version: VersionSelector,
  ) {
    let found;
    try {
      found = await client.version(subject, version);
    } catch (error) {
      if (error instanceof RegistryRequestError && error.code === 40401)
        this.error(
          `no subject "${subject}" in the registry at ${client.url}; mesh schemas list shows the subjects`,
          {
            exit: EXIT.invalid,
          },
        );
      if (error instanceof RegistryRequestError && error.code === 40402) {
        const versions = await client.versions(subject);
        this.error(`subject "${subject}" has no version ${version}; its versions: ${versions.join(', ')}`, {
          exit: EXIT.invalid,
        });
      }
      throw error;
    }
    const schema = JSON.parse(found.schema) as unknown;
    if (!this.jsonEnabled()) {
      this.log(`subject ${found.subject}, version ${found.version}, id ${found.id}`);
      this.log(JSON.stringify(schema, null, 2));
    }
    return { subject: found.subject, version: found.version, id: found.id, schema };
  }

  private async byId(client: ReturnType<typeof registryClient>, id: number) {
    let found;
    try {
      found = await client.schemaById(id);
    } catch (error) {
      if (error instanceof RegistryRequestError && error.code === 40403)
        this.error(`no schema with id ${id} in the registry at ${client.url}`, { exit: EXIT.invalid });
      throw error;
    }
    // Older registries cannot tell which subjects use an id.
    const versions = await client.versionsOfId(id).catch(() => []);
    const schema = JSON.parse(found.schema) as unknown;
    if (!this.jsonEnabled()) {
      const where = versions.map((v) => `${v.subject} version ${v.version}`).join(', ');
      this.log(`id ${id}${where ? `, used by ${where}` : ''}`);
      this.log(JSON.stringify(schema, null, 2));
    }
    return { id, schema, versions };
  }
}
