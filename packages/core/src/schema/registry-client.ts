import { parseCompatibilityLevel, type CompatibilityCheck, type VersionSelector } from './schema-registry.js';
import type { CompatibilityMode } from './avro.js';

export interface SchemaRegistryClientOptions {
  /** The registry's base URL, e.g. `http://127.0.0.1:9464/schema-registry`. `user:password@` is basic auth. */
  readonly url: string;
  readonly basicAuth?: { readonly username: string; readonly password: string } | undefined;
  /** How long one request may take. Default 10 s. */
  readonly timeoutMs?: number | undefined;
  /** What to check when the registry cannot be reached or refuses the credentials, added to those errors. */
  readonly hint?: string | undefined;
}

/** A subject version as a Confluent registry describes it. */
export interface RegistryVersion {
  readonly subject: string;
  readonly version: number;
  readonly id: number;
  readonly schema: string;
  readonly schemaType?: string;
}

/**
 * A request to a schema registry that failed: no answer (`status` undefined), or a refusal with the HTTP
 * status and the registry's `error_code`. The message names the registry's URL and what to do.
 */
export class RegistryRequestError extends Error {
  readonly url: string;
  readonly status: number | undefined;
  readonly code: number | undefined;
  /** The registry's own `message`, when it sent one. */
  readonly reason: string | undefined;
  constructor(message: string, url: string, status?: number, code?: number, reason?: string) {
    super(message);
    this.name = 'RegistryRequestError';
    this.url = url;
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/** A small client of the Confluent Schema Registry REST API, on `fetch`. */
export class SchemaRegistryClient {
  /** The base URL, without credentials or a trailing slash. */
  readonly url: string;
  private readonly authorization: string | undefined;
  private readonly username: string | undefined;
  private readonly timeoutMs: number;
  private readonly hint: string;

  constructor(options: SchemaRegistryClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new RegistryRequestError(
        `the schema registry URL ${JSON.stringify(options.url)} is not a URL: give it as http(s)://host:port[/path]`,
        options.url,
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new RegistryRequestError(
        `the schema registry URL ${options.url} must start with http:// or https://`,
        options.url,
      );
    let auth = options.basicAuth;
    if (parsed.username) {
      auth ??= {
        username: decodeURIComponent(parsed.username),
        password: decodeURIComponent(parsed.password),
      };
      parsed.username = '';
      parsed.password = '';
    }
    this.url = parsed.toString().replace(/\/+$/, '');
    this.username = auth?.username;
    this.authorization = auth
      ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
      : undefined;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.hint = options.hint ?? 'Check the registry URL and that the registry runs.';
  }

  /** Subjects with a live version; with `deleted`, soft-deleted ones too. */
  subjects(options: { deleted?: boolean } = {}): Promise<string[]> {
    return this.request('GET', `/subjects${deletedQuery(options)}`);
  }

  versions(subject: string, options: { deleted?: boolean } = {}): Promise<number[]> {
    return this.request('GET', `/subjects/${enc(subject)}/versions${deletedQuery(options)}`);
  }

  version(
    subject: string,
    version: VersionSelector,
    options: { deleted?: boolean } = {},
  ): Promise<RegistryVersion> {
    return this.request('GET', `/subjects/${enc(subject)}/versions/${version}${deletedQuery(options)}`);
  }

  schemaById(id: number): Promise<{ schema: string; schemaType?: string }> {
    return this.request('GET', `/schemas/ids/${id}`);
  }

  versionsOfId(id: number): Promise<{ subject: string; version: number }[]> {
    return this.request('GET', `/schemas/ids/${id}/versions`);
  }

  /** Registers a schema (its JSON text) under a subject; answers with its id. */
  async register(subject: string, schema: string): Promise<number> {
    return (await this.request<{ id: number }>('POST', `/subjects/${enc(subject)}/versions`, { schema })).id;
  }

  /** The version of a subject that holds this schema. */
  lookup(subject: string, schema: string): Promise<RegistryVersion> {
    return this.request('POST', `/subjects/${enc(subject)}`, { schema });
  }

  /** Checks a schema against one version, or without `version` against all the subject's level applies to. */
  async testCompatibility(
    subject: string,
    schema: string,
    version?: VersionSelector,
  ): Promise<CompatibilityCheck> {
    const path = `/compatibility/subjects/${enc(subject)}/versions${version === undefined ? '' : `/${version}`}`;
    const answer = await this.request<{ is_compatible: boolean; messages?: string[] }>(
      'POST',
      `${path}?verbose=true`,
      { schema },
    );
    return { compatible: answer.is_compatible, messages: answer.messages ?? [] };
  }

  /** The level a subject's new versions are checked with (its own, else the global one). */
  async compatibility(subject: string): Promise<CompatibilityMode | undefined> {
    const answer = await this.request<{ compatibilityLevel?: string }>(
      'GET',
      `/config/${enc(subject)}?defaultToGlobal=true`,
    );
    return parseCompatibilityLevel(answer.compatibilityLevel);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const what = `${method} ${path.split('?')[0]}`;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          accept: `${CONTENT_TYPE}, application/json`,
          ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }),
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError')
        throw new RegistryRequestError(
          `the schema registry at ${this.url} did not answer ${what} within ${this.timeoutMs} ms. ${this.hint}`,
          this.url,
        );
      let cause = e.cause?.code ?? e.cause?.message ?? e.message;
      // fetch refuses some ports outright (the WHATWG "bad ports": 1, 6000, 6665–6669, …).
      if (cause === 'bad port') cause = `port ${new URL(this.url).port} is one fetch refuses to connect to`;
      throw new RegistryRequestError(
        `cannot reach the schema registry at ${this.url} (${cause}). ${this.hint}`,
        this.url,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.ok) {
      if (json === undefined)
        throw new RegistryRequestError(
          `the schema registry at ${this.url} answered ${what} with something that is not JSON: is ${this.url} the ` +
            `address of a Confluent-compatible schema registry? ${this.hint}`,
          this.url,
          response.status,
        );
      return json as T;
    }
    const refusal = json as { error_code?: unknown; message?: unknown } | undefined;
    const code = typeof refusal?.error_code === 'number' ? refusal.error_code : undefined;
    const message = typeof refusal?.message === 'string' ? refusal.message : undefined;
    if (response.status === 401 || response.status === 403)
      throw new RegistryRequestError(
        `the schema registry at ${this.url} refused ${this.username ? `the credentials of user "${this.username}"` : 'a request without credentials'} ` +
          `(${response.status} on ${what}${message ? `: ${message}` : ''}). ${this.hint}`,
        this.url,
        response.status,
        code,
      );
    if (message === undefined)
      throw new RegistryRequestError(
        `the schema registry at ${this.url} answered ${what} with HTTP ${response.status} and no registry error: is ` +
          `${this.url} the address of a Confluent-compatible schema registry? ${this.hint}`,
        this.url,
        response.status,
      );
    throw new RegistryRequestError(
      `the schema registry at ${this.url} refused ${what}: ${message} (HTTP ${response.status}, error ${code ?? 'none'})`,
      this.url,
      response.status,
      code,
      message,
    );
  }
}

function deletedQuery(options: { deleted?: boolean }): string {
  return options.deleted ? '?deleted=true' : '';
}

function enc(subject: string): string {
  return encodeURIComponent(subject);
}
