import { Errors, Flags } from '@oclif/core';
import { CATALOG_PATH, type CatalogEntry } from '@datamesh/core';
import { EXIT } from './base-command.js';

/** Where a node with the default `http` settings serves its catalog. */
export const DEFAULT_NODE_URL = 'http://127.0.0.1:9464';

export const nodeUrlFlag = Flags.string({
  char: 'u',
  env: 'MESH_NODE_URL',
  default: DEFAULT_NODE_URL,
  description: `A running node's HTTP address (http://<http.host>:<http.port> of its config); it serves the catalog at ${CATALOG_PATH}.`,
});

export interface CatalogTopic extends CatalogEntry {
  readonly keySchema?: { readonly id: number; readonly version: number; readonly schema: unknown };
  readonly valueSchema?: { readonly id: number; readonly version: number; readonly schema: unknown };
}

/** GETs a catalog path of the node; errors say what to check. Answers undefined for an unknown topic. */
export async function fetchCatalog<T>(nodeUrl: string, path = ''): Promise<T | undefined> {
  const url = `${nodeUrl.replace(/\/+$/, '')}${CATALOG_PATH}${path}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new Errors.CLIError(
      `cannot reach the node at ${nodeUrl} (${(error as Error).cause ?? (error as Error).message}): start one with mesh node start, or pass its address with --url (or MESH_NODE_URL)`,
      { exit: EXIT.failure },
    );
  }
  if (response.status === 404 && path !== '') return undefined;
  if (!response.ok) {
    throw new Errors.CLIError(
      `the node at ${nodeUrl} answered ${response.status} for ${url}: ${await response.text()} (is it a datamesh node of this version?)`,
      { exit: EXIT.failure },
    );
  }
  return (await response.json()) as T;
}
