import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  COMPATIBILITY_LEVELS,
  SchemaRegistryError,
  parseCompatibilityLevel,
  parseVersion,
  type SchemaInput,
  type SchemaRegistry,
} from './schema-registry.js';

/** What a Confluent schema registry answers with; `application/json` is accepted as well. */
export const SCHEMA_REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const ACCEPTED_BODY_TYPES = [
  SCHEMA_REGISTRY_CONTENT_TYPE,
  'application/vnd.schemaregistry+json',
  'application/json',
  'application/octet-stream',
];
const MAX_BODY_BYTES = 8 * 1024 * 1024;

type Query = URLSearchParams;
type Handler = (params: string[], query: Query, body: () => Promise<unknown>) => Promise<Reply> | Reply;
type Reply = { status?: number; json: unknown } | { status?: number; text: string };

/**
 * One route: a path pattern whose `*` segments are parameters, and its handler per method. The table below
 * reads like the API reference it implements.
 */
interface Route {
  readonly pattern: readonly string[];
  readonly methods: Readonly<Record<string, Handler>>;
}

/**
 * The Confluent Schema Registry REST API over a `SchemaRegistry`, as a `node:http` request listener.
 * `prefix` (e.g. `/schema-registry`) is removed from the path first; a request outside it is a 404.
 */
export function schemaRegistryRequestListener(
  registry: SchemaRegistry,
  options: { readonly prefix?: string } = {},
): RequestListener {
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const routes = routeTable(registry);
  return (req, res) => {
    void handle(req, res, prefix, routes).catch((error: unknown) => {
      // Only a failure to write the answer ends here (the client went away).
      res.destroy(error as Error);
    });
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  prefix: string,
  routes: readonly Route[],
): Promise<void> {
  let reply: Reply;
  try {
    const url = new URL(req.url ?? '/', 'http://registry');
    if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`))
      throw httpError(404, 'HTTP 404 Not Found');
    const segments = url.pathname.slice(prefix.length).split('/').slice(1);
    if (segments.at(-1) === '') segments.pop(); // a trailing slash
    const params = segments.map(decodeSegment);
    const route = routes.find((r) => matches(r.pattern, params));
    if (!route) throw httpError(404, 'HTTP 404 Not Found');
    const handler = route.methods[req.method ?? 'GET'];
    if (!handler) {
      res.setHeader('allow', Object.keys(route.methods).join(', '));
      throw httpError(405, 'HTTP 405 Method Not Allowed');
    }
    const args = params.filter((_, i) => route.pattern[i] === '*');
    reply = await handler(args, url.searchParams, () => readJson(req));
  } catch (error) {
    reply = errorReply(error);
  }
  const body = 'json' in reply ? JSON.stringify(reply.json) : reply.text;
  res.writeHead(reply.status ?? 200, {
    'content-type': SCHEMA_REGISTRY_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function routeTable(registry: SchemaRegistry): Route[] {
  const flag = (query: Query, name: string) => query.get(name)?.toLowerCase() === 'true';
  const versionEntry = (subject: string, version: string, query: Query) => {
    const entry = registry.version(subject, parseVersion(version), { deleted: flag(query, 'deleted') });
    return { subject: entry.subject, version: entry.version, id: entry.id, schema: entry.schema };
  };
  return [
    { pattern: [], methods: { GET: () => ({ json: {} }) } },
    { pattern: ['schemas', 'types'], methods: { GET: () => ({ json: ['AVRO'] }) } },
    {
      pattern: ['schemas', 'ids', '*'],
      methods: { GET: ([id]) => ({ json: { schema: registry.schemaById(parseId(id!)) } }) },
    },
    {
      pattern: ['schemas', 'ids', '*', 'schema'],
      methods: { GET: ([id]) => ({ text: registry.schemaById(parseId(id!)) }) },
    },
    {
      pattern: ['schemas', 'ids', '*', 'versions'],
      methods: {
        GET: ([id], q) => ({ json: registry.versionsOfId(parseId(id!), { deleted: flag(q, 'deleted') }) }),
      },
    },
    {
      pattern: ['schemas', 'ids', '*', 'subjects'],
      methods: {
        GET: ([id], q) => ({
          json: [
            ...new Set(
              registry.versionsOfId(parseId(id!), { deleted: flag(q, 'deleted') }).map((v) => v.subject),
            ),
          ],
        }),
      },
    },
    {
      pattern: ['subjects'],
      methods: { GET: (_, q) => ({ json: registry.subjects({ deleted: flag(q, 'deleted') }) }) },
    },
    {
      pattern: ['subjects', '*'],
      methods: {
        POST: async ([subject], q, body) => {
          const entry = registry.lookup(subject!, schemaInput(await body()), { deleted: flag(q, 'deleted') });
          return {
            json: { subject: entry.subject, id: entry.id, version: entry.version, schema: entry.schema },
          };
        },
        DELETE: async ([subject], q) => ({
          json: await registry.deleteSubject(subject!, { permanent: flag(q, 'permanent') }),
        }),
      },
    },
    {
      pattern: ['subjects', '*', 'versions'],
      methods: {
        GET: ([subject], q) => ({ json: registry.versions(subject!, { deleted: flag(q, 'deleted') }) }),
        POST: async ([subject], _, body) => {
          const input = await body();
          refuseImport(input);
          return { json: { id: (await registry.register(subject!, schemaInput(input))).id } };
        },
      },
    },
    {
      pattern: ['subjects', '*', 'versions', '*'],
      methods: {
        GET: ([subject, version], q) => ({ json: versionEntry(subject!, version!, q) }),
        DELETE: async ([subject, version], q) => ({
          json: await registry.deleteVersion(subject!, parseVersion(version!), {
            permanent: flag(q, 'permanent'),
          }),
        }),
      },
    },
    {
      pattern: ['subjects', '*', 'versions', '*', 'schema'],
      methods: { GET: ([subject, version], q) => ({ text: versionEntry(subject!, version!, q).schema }) },
    },
    {
      pattern: ['subjects', '*', 'versions', '*', 'referencedby'],
      methods: {
        // References are not supported, so nothing refers to anything; the version must exist all the same.
        GET: ([subject, version]) => {
          registry.version(subject!, parseVersion(version!), { deleted: true });
          return { json: [] };
        },
      },
    },
    {
      pattern: ['config'],
      methods: {
        GET: () => ({ json: { compatibilityLevel: registry.globalCompatibility() } }),
        PUT: async (_, __, body) => {
          const level = compatibilityOf(await body());
          await registry.setGlobalCompatibility(level);
          return { json: { compatibility: level } };
        },
        DELETE: async () => ({ json: { compatibilityLevel: await registry.resetGlobalCompatibility() } }),
      },
    },
    {
      pattern: ['config', '*'],
      methods: {
        GET: ([subject], q) => {
          const level = flag(q, 'defaultToGlobal')
            ? registry.compatibility(subject!)
            : registry.subjectCompatibility(subject!);
          if (!level)
            throw new SchemaRegistryError(
              404,
              40408,
              `Subject '${subject}' does not have subject-level compatibility configured`,
            );
          return { json: { compatibilityLevel: level } };
        },
        PUT: async ([subject], _, body) => {
          const level = compatibilityOf(await body());
          await registry.setSubjectCompatibility(subject!, level);
          return { json: { compatibility: level } };
        },
        DELETE: async ([subject]) => ({
          json: { compatibilityLevel: await registry.deleteSubjectCompatibility(subject!) },
        }),
      },
    },
    {
      pattern: ['mode'],
      methods: {
        GET: () => ({ json: { mode: 'READWRITE' } }),
        PUT: async (_, __, body) => ({ json: { mode: readWriteOnly(await body()) } }),
      },
    },
    {
      pattern: ['compatibility', 'subjects', '*', 'versions'],
      methods: {
        POST: async ([subject], q, body) =>
          compatibilityReply(registry.testCompatibility(subject!, schemaInput(await body())), q),
      },
    },
    {
      pattern: ['compatibility', 'subjects', '*', 'versions', '*'],
      methods: {
        POST: async ([subject, version], q, body) => {
          const selector = parseVersion(version!);
          return compatibilityReply(
            registry.testCompatibility(subject!, schemaInput(await body()), selector),
            q,
          );
        },
      },
    },
  ];

  function compatibilityReply(check: { compatible: boolean; messages: readonly string[] }, q: Query): Reply {
    return {
      json: flag(q, 'verbose')
        ? { is_compatible: check.compatible, messages: check.messages }
        : { is_compatible: check.compatible },
    };
  }
}

function matches(pattern: readonly string[], segments: readonly string[]): boolean {
  return pattern.length === segments.length && pattern.every((p, i) => p === '*' || p === segments[i]);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw httpError(400, `malformed path segment ${JSON.stringify(segment)}`);
  }
}

function parseId(text: string): number {
  const id = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(id) || id < 1 || id > 2 ** 31 - 1)
    throw new SchemaRegistryError(404, 40403, `Schema ${text} not found`);
  return id;
}

function schemaInput(body: unknown): SchemaInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new SchemaRegistryError(422, 42201, 'Invalid schema: the body must be a JSON object with `schema`');
  const { schema, schemaType, references } = body as Record<string, unknown>;
  if (typeof schema !== 'string')
    throw new SchemaRegistryError(422, 42201, 'Invalid schema: `schema` must be the schema as a JSON string');
  if (schemaType !== undefined && schemaType !== null && typeof schemaType !== 'string')
    throw new SchemaRegistryError(422, 42201, 'Invalid schema: `schemaType` must be a string');
  if (references !== undefined && references !== null && !Array.isArray(references))
    throw new SchemaRegistryError(422, 42201, 'Invalid schema: `references` must be a list');
  return {
    schema,
    schemaType: schemaType ?? undefined,
    references: references ?? undefined,
  };
}

/** A given id or version is Confluent's IMPORT mode, which this registry does not have. */
function refuseImport(body: unknown): void {
  const { id, version } = (body ?? {}) as { id?: unknown; version?: unknown };
  if (
    (id !== undefined && id !== null && id !== -1) ||
    (version !== undefined && version !== null && version !== -1 && version !== 0)
  )
    throw new SchemaRegistryError(
      422,
      42205,
      'Registering with a given id or version needs IMPORT mode, which this registry does not support',
    );
}

function compatibilityOf(body: unknown): (typeof COMPATIBILITY_LEVELS)[number] {
  const level = parseCompatibilityLevel((body as { compatibility?: unknown } | null)?.compatibility);
  if (!level)
    throw new SchemaRegistryError(
      422,
      42203,
      `Invalid compatibility level. Valid values are ${COMPATIBILITY_LEVELS.map((l) => l.toLowerCase()).join(', ')}`,
    );
  return level;
}

function readWriteOnly(body: unknown): 'READWRITE' {
  const mode = (body as { mode?: unknown } | null)?.mode;
  if (typeof mode === 'string' && mode.toUpperCase() === 'READWRITE') return 'READWRITE';
  throw new SchemaRegistryError(
    422,
    42204,
    `Invalid mode ${JSON.stringify(mode)}: this registry is always READWRITE (READONLY and IMPORT are not supported)`,
  );
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== '' && !ACCEPTED_BODY_TYPES.includes(type))
    throw httpError(
      415,
      `HTTP 415 Unsupported Media Type: send ${SCHEMA_REGISTRY_CONTENT_TYPE} or application/json`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw httpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw httpError(400, `the body is not JSON: ${(error as Error).message}`);
  }
}

/** Errors outside the registry's own codes carry the HTTP status as `error_code`, as Confluent's do. */
function httpError(status: number, message: string): SchemaRegistryError {
  return new SchemaRegistryError(status, status, message);
}

function errorReply(error: unknown): Reply {
  if (error instanceof SchemaRegistryError)
    return { status: error.status, json: { error_code: error.code, message: error.message } };
  return { status: 500, json: { error_code: 500, message: `Internal error: ${(error as Error).message}` } };
}
