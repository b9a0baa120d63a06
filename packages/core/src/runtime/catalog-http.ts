import type { RequestListener, ServerResponse } from 'node:http';
import type { SchemaAccess } from '../contract/context.js';
import type { TopicCatalog } from '../catalog/topic-catalog.js';

/**
 * Serves the topic catalog read-only: `GET <prefix>` lists every entry, `GET <prefix>/<topic>` answers one
 * with the latest key and value schemas registered under its subjects.
 */
export function catalogRequestListener(
  catalog: TopicCatalog,
  schemas: SchemaAccess,
  prefix: string,
): RequestListener {
  return (req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    let topic: string;
    try {
      topic = decodeURIComponent(path.slice(prefix.length).replace(/^\/+/, ''));
    } catch {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: `not a valid topic path: ${path}` }));
      return;
    }
    answer(res, async () => {
      const entries = await catalog.list();
      if (topic === '') return { status: 200, body: { topics: entries } };
      const entry = entries.find((e) => e.topic === topic);
      if (!entry)
        return {
          status: 404,
          body: { error: `topic "${topic}" is not in the catalog`, topics: entries.map((e) => e.topic) },
        };
      const [key, value] = await Promise.all([
        entry.keySubject ? schemas.latest(entry.keySubject) : undefined,
        entry.valueSubject ? schemas.latest(entry.valueSubject) : undefined,
      ]);
      return {
        status: 200,
        body: {
          ...entry,
          ...(key ? { keySchema: { id: key.id, version: key.version, schema: key.schema } } : {}),
          ...(value ? { valueSchema: { id: value.id, version: value.version, schema: value.schema } } : {}),
        },
      };
    });
  };
}

function answer(res: ServerResponse, work: () => Promise<{ status: number; body: unknown }>): void {
  work().then(
    ({ status, body }) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
    (error: Error) =>
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: error.message })),
  );
}
