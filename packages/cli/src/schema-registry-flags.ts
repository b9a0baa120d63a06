import { Errors, Flags } from '@oclif/core';
import {
  SCHEMA_REGISTRY_PATH,
  SchemaRegistryClient,
  SchemaRegistryError,
  parseVersion,
  type VersionSelector,
} from '@datamesh/core';
import { EXIT } from './base-command.js';

/** Where a node with the default `http` settings serves its registry. */
export const DEFAULT_REGISTRY_URL = `http://127.0.0.1:9464${SCHEMA_REGISTRY_PATH}`;

export const registryUrlFlag = Flags.string({
  char: 'u',
  env: 'MESH_SCHEMA_REGISTRY_URL',
  default: DEFAULT_REGISTRY_URL,
  description:
    'The schema registry: a node serves its own at http://<http.host>:<http.port>/schema-registry; any ' +
    'Confluent-compatible registry works (basic auth as https://user:password@host, best kept in MESH_SCHEMA_REGISTRY_URL).',
});

/** A client whose errors tell a CLI user what to do when the registry cannot be reached. */
export function registryClient(url: string): SchemaRegistryClient {
  return new SchemaRegistryClient({
    url,
    hint:
      'Pass the registry address with --url (or MESH_SCHEMA_REGISTRY_URL); a running node serves its own at ' +
      `http://<http.host>:<http.port>${SCHEMA_REGISTRY_PATH} (default ${DEFAULT_REGISTRY_URL}).`,
  });
}

/** The value of a --version flag: a version number or latest (the default). */
export function versionFlagValue(text: string | undefined): VersionSelector {
  try {
    return parseVersion(text ?? 'latest');
  } catch (error) {
    if (!(error instanceof SchemaRegistryError)) throw error;
    throw new Errors.CLIError(`--version takes a version number (1, 2, …) or latest, not "${text}"`, {
      exit: EXIT.invalid,
    });
  }
}
