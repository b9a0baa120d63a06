import { readFile } from 'node:fs/promises';
import type { ElasticsearchSinkConfig } from './sink-config.js';

/** How to reach the cluster, resolved from the config (the CA file read). Holds secrets: never log it. */
export interface Connection {
  readonly nodes: readonly string[];
  readonly auth?: { readonly username: string; readonly password: string } | { readonly apiKey: string };
  readonly tls?: { readonly ca?: string; readonly rejectUnauthorized: boolean };
  readonly requestTimeoutMs: number;
}

export async function connectionOf(config: ElasticsearchSinkConfig): Promise<Connection> {
  const { auth, tls } = config;
  return {
    nodes: config.urls ?? (config.url === undefined ? [] : [config.url]),
    requestTimeoutMs: config.requestTimeoutMs,
    ...(auth?.apiKey !== undefined
      ? { auth: { apiKey: auth.apiKey } }
      : auth?.username !== undefined
        ? { auth: { username: auth.username, password: auth.password ?? '' } }
        : {}),
    ...(tls
      ? {
          tls: {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.caFile === undefined ? {} : { ca: await readCa(tls.caFile) }),
          },
        }
      : {}),
  };
}

/** The `Authorization` header value of a connection's credentials, if it has any. */
export function authorizationOf(connection: Connection): string | undefined {
  const { auth } = connection;
  if (!auth) return undefined;
  if ('apiKey' in auth) return `ApiKey ${auth.apiKey}`;
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** A URL fit for logs and messages: credentials in it are replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = '***';
      parsed.password = '';
    }
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(an invalid URL)';
  }
}

async function readCa(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read tls.caFile ${path}: ${(error as Error).message}`, { cause: error });
  }
}
