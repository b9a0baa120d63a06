import { readFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { RegistryRequestError, type CompatibilityMode } from '@datamesh/core';
import { EXIT, MeshCommand } from '../../base-command.js';
import { registryClient, registryUrlFlag, versionFlagValue } from '../../schema-registry-flags.js';

interface CheckResult {
  readonly subject: string;
  readonly file: string;
  /** The version checked against; all the subject's level applies to when absent. */
  readonly version?: number | 'latest';
  readonly level?: CompatibilityMode;
  readonly compatible: boolean;
  readonly messages: readonly string[];
}

export default class SchemasCheck extends MeshCommand {
  static override summary =
    'Check an Avro schema file against a subject in the registry, without registering it.';
  static override description =
    'Asks the registry whether the schema in the file could be registered under the subject: against the versions the ' +
    "subject's compatibility level applies to (the latest, or all of them for a transitive level), or against one " +
    'version with --version. Exits 0 when compatible, 1 with the reasons when not, 2 for a file that is not a valid ' +
    'Avro schema or an unknown subject or version.';
  static override examples = [
    '<%= config.bin %> schemas check orders.orders-value order-v3.avsc',
    '<%= config.bin %> schemas check orders.orders-value order-v3.avsc --version 1 --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    subject: Args.string({ required: true, description: 'Subject to check against.' }),
    file: Args.string({ required: true, description: 'Avro schema file (JSON, usually .avsc).' }),
  };
  static override flags = {
    url: registryUrlFlag,
    version: Flags.string({
      char: 'v',
      description: 'Check against this version only (a number or latest).',
    }),
  };

  async run(): Promise<CheckResult> {
    const { args, flags } = await this.parse(SchemasCheck);
    const version = flags.version === undefined ? undefined : versionFlagValue(flags.version);
    const schema = await this.readSchema(args.file);
    const client = registryClient(flags.url);
    let check;
    try {
      check = await client.testCompatibility(args.subject, schema, version);
    } catch (error) {
      if (error instanceof RegistryRequestError && error.code === 42201)
        this.error(`${args.file} is not a schema the registry accepts: ${error.reason ?? error.message}`, {
          exit: EXIT.invalid,
        });
      if (error instanceof RegistryRequestError && (error.code === 40401 || error.code === 40402))
        this.error(
          `cannot check against version ${version} of "${args.subject}": ${error.reason ?? error.message}`,
          { exit: EXIT.invalid },
        );
      throw error;
    }
    // Not every registry answers defaultToGlobal: the level only makes the message clearer.
    const level = await client.compatibility(args.subject).catch(() => undefined);
    const result: CheckResult = {
      subject: args.subject,
      file: args.file,
      ...(version === undefined ? {} : { version }),
      ...(level === undefined ? {} : { level }),
      compatible: check.compatible,
      messages: check.messages,
    };
    const against = `${version === undefined ? 'the versions' : `version ${version}`} of ${args.subject}${level ? ` (${level})` : ''}`;
    if (result.compatible) this.log(`${args.file} is compatible with ${against}`);
    else {
      this.log(`${args.file} is not compatible with ${against}:`);
      for (const message of result.messages) this.log(`  - ${message}`);
      process.exitCode = EXIT.failure;
    }
    return result;
  }

  /** The file's schema as compact JSON text; a missing file or bad JSON is the user's to fix (exit 2). */
  private async readSchema(file: string): Promise<string> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      this.error(`cannot read ${file}: ${(error as Error).message}`, { exit: EXIT.invalid });
    }
    try {
      return JSON.stringify(JSON.parse(text));
    } catch (error) {
      this.error(`${file} is not JSON, so not an Avro schema: ${(error as Error).message}`, {
        exit: EXIT.invalid,
      });
    }
  }
}
