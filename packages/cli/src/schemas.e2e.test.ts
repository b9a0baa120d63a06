import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, isolatedHome, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';

// `mesh schemas …` against the registry a real `mesh node start` serves, and a node pointed at a registry.
let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;
let node: MeshNodeProcess;
let registry: string;

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const order = (...extra: { name: string; type: unknown; default?: unknown }[]) => ({
  type: 'record',
  name: 'Order',
  fields: [{ name: 'id', type: 'long' }, ...extra],
});

async function writeNodeConfig(name: string, extra = ''): Promise<string> {
  const pipeline = join(home, `${name}.yaml`);
  await writeFile(
    pipeline,
    `apiVersion: datamesh/v1\nkind: Pipeline\nname: ${name}\nsources:\n  - { name: orders, plugin: datagen, config: { rate: 100, limit: 10 } }\nsinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: ${join(home, name, 'out.jsonl')} } }\n`,
  );
  const config = join(home, `${name}-node.yaml`);
  await writeFile(
    config,
    `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, name, 'data')}\nhttp: { port: 0 }\n${extra}pipelines: [${pipeline}]\n`,
  );
  return config;
}

/** A registry URL on a port nothing listens on (taken, then freed). */
async function closedPortUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/schema-registry`;
  await new Promise((resolve) => probe.close(resolve));
  return url;
}

async function register(subject: string, schema: unknown): Promise<number> {
  const response = await fetch(`${registry}/subjects/${subject}/versions`, {
    method: 'POST',
    headers: { 'content-type': CONTENT_TYPE },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  return ((await response.json()) as { id: number }).id;
}

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-schemas-e2e-'));
  node = new MeshNodeProcess(['--config', await writeNodeConfig('shop')], env);
  registry = `${await node.url(60_000)}/schema-registry`;
  const started = node.lines.find((l) => l['msg'] === 'node started');
  expect(started?.['schemaRegistry']).toBe(registry);
  await register('orders-value', order());
  await register('orders-value', order({ name: 'note', type: ['null', 'string'], default: null }));
}, 90_000);

afterAll(async () => {
  node?.child.kill('SIGTERM');
  await node?.exited;
  await remove();
});

const schemas = (...args: string[]) =>
  mesh(['schemas', ...args, '--url', registry], { ...env, OCLIF_COLUMNS: '1000' });

describe('mesh schemas', () => {
  it('shows up in --help', () => {
    const { stdout } = mesh(['--help'], env);
    for (const command of ['schemas list', 'schemas get', 'schemas check'])
      expect(stdout).toContain(`  ${command} `);
    const help = mesh(['schemas', 'check', '--help'], env);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/MESH_SCHEMA_REGISTRY_URL/);
  });

  it('lists subjects with versions and latest ids, the node’s own pipeline subjects included', () => {
    const listed = schemas('list', '--json');
    expect(listed.status, listed.stderr).toBe(0);
    const { subjects } = JSON.parse(listed.stdout) as {
      subjects: { subject: string; versions: number[]; latest: { version: number; id: number } }[];
    };
    expect(subjects.map((s) => s.subject)).toEqual(
      expect.arrayContaining(['orders-value', 'orders.orders-key', 'orders.orders-value']),
    );
    expect(subjects.find((s) => s.subject === 'orders-value')).toMatchObject({
      versions: [1, 2],
      latest: { version: 2 },
    });
    const table = schemas('list');
    expect(table.stdout).toMatch(/^SUBJECT +VERSIONS +LATEST ID$/m);
    expect(table.stdout).toMatch(/^orders-value +1 2 +\d+$/m);
  });

  it('gets a subject version, the latest, or a schema by id', () => {
    const latest = schemas('get', 'orders-value', '--json');
    expect(latest.status, latest.stderr).toBe(0);
    const parsed = JSON.parse(latest.stdout) as {
      version: number;
      id: number;
      schema: { fields: unknown[] };
    };
    expect(parsed.version).toBe(2);
    expect(parsed.schema.fields).toHaveLength(2);

    const first = schemas('get', 'orders-value', '--version', '1');
    expect(first.stdout).toMatch(/^subject orders-value, version 1, id \d+\n\{\n {2}"type": "record"/);

    const byId = schemas('get', '--id', String(parsed.id), '--json');
    expect(JSON.parse(byId.stdout)).toEqual({
      id: parsed.id,
      schema: parsed.schema,
      versions: [{ subject: 'orders-value', version: 2 }],
    });
  });

  it('refuses unknown subjects, versions, ids and bad flags with exit 2 and says what exists', () => {
    const unknown = schemas('get', 'nope-value');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/no subject "nope-value" in the registry at .*; mesh schemas list shows/);
    const version = schemas('get', 'orders-value', '--version', '9');
    expect(version.status).toBe(2);
    expect(version.stderr).toMatch(/subject "orders-value" has no version 9; its versions: 1, 2/);
    expect(schemas('get', '--id', '999').stderr).toMatch(/no schema with id 999/);
    const bad = schemas('get', 'orders-value', '--version', 'newest');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--version takes a version number \(1, 2, …\) or latest, not "newest"/);
    expect(schemas('get').status).toBe(2);
    const json = schemas('get', 'nope-value', '--json');
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ error: expect.stringMatching(/no subject "nope-value"/) });
  });

  it('checks a compatible schema file (exit 0) and an incompatible one (exit 1, with the reasons)', async () => {
    const good = join(home, 'good.avsc');
    await writeFile(
      good,
      JSON.stringify(
        order(
          { name: 'note', type: ['null', 'string'], default: null },
          { name: 'n', type: 'int', default: 0 },
        ),
      ),
    );
    const ok = schemas('check', 'orders-value', good);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`${good} is compatible with the versions of orders-value (BACKWARD)`);

    const bad = join(home, 'bad.avsc');
    await writeFile(bad, JSON.stringify(order({ name: 'total', type: 'double' })));
    const refused = schemas('check', 'orders-value', bad);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain(
      `${bad} is not compatible with the versions of orders-value (BACKWARD):`,
    );
    expect(refused.stdout).toMatch(/ {2}- new schema cannot read data written with the old: .*total/);
    const json = schemas('check', 'orders-value', bad, '--version', '1', '--json');
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      subject: 'orders-value',
      version: 1,
      level: 'BACKWARD',
      compatible: false,
      messages: [expect.stringMatching(/total/)],
    });
  });

  it('refuses a file that is not an Avro schema, or not there, with exit 2', async () => {
    const notJson = join(home, 'not.avsc');
    await writeFile(notJson, '{"type": ');
    expect(schemas('check', 'orders-value', notJson)).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/is not JSON/),
    });
    const notAvro = join(home, 'not-avro.avsc');
    await writeFile(notAvro, '{"type": "recrd"}');
    const refused = schemas('check', 'orders-value', notAvro);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/not-avro\.avsc is not a schema the registry accepts: Invalid schema: /);
    expect(schemas('check', 'orders-value', join(home, 'missing.avsc')).status).toBe(2);
  });

  it('says so when nothing answers at the URL (exit 1), also through MESH_SCHEMA_REGISTRY_URL', async () => {
    const url = await closedPortUrl();
    const result = mesh(['schemas', 'list'], {
      ...env,
      MESH_SCHEMA_REGISTRY_URL: url,
      OCLIF_COLUMNS: '1000',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `cannot reach the schema registry at ${url} (ECONNREFUSED). Pass the registry address with --url`,
    );
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
    // The node's HTTP root is not a registry: the error says so.
    const root = mesh(['schemas', 'list', '--url', registry.replace('/schema-registry', '')], env);
    expect(root.status).toBe(2);
    expect(root.stderr).toMatch(/answered GET \/subjects with HTTP 404 and no registry error/);
  });
});

describe('mesh node start with an external schema registry', () => {
  it('registers its schemas there and serves none', async () => {
    const other = new MeshNodeProcess(
      ['--config', await writeNodeConfig('client', `schemaRegistry: { url: "${registry}" }\n`)],
      env,
    );
    try {
      await other.url(60_000);
      const started = other.lines.find((l) => l['msg'] === 'node started');
      expect(started?.['schemaRegistry']).toBe(registry);
      // Events flow (encoded with ids from that registry), and no registry of its own was opened.
      await eventually(async () => {
        const text = await readFile(join(home, 'client', 'out.jsonl'), 'utf8').catch(() => '');
        return text.split('\n').filter(Boolean).length >= 10 ? true : undefined;
      }, 30_000);
      await expect(access(join(home, 'client', 'data', 'schemas.json'))).rejects.toThrow();
    } finally {
      other.child.kill('SIGTERM');
      await other.exited;
    }
  }, 90_000);

  it('fails to start with a clear error when the registry does not answer (exit 1)', async () => {
    const url = await closedPortUrl();
    const config = await writeNodeConfig('lost', `schemaRegistry: { url: "${url}", timeoutMs: 2000 }\n`);
    const result = mesh(['node', 'start', '--config', config], { ...env, OCLIF_COLUMNS: '1000' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `cannot reach the schema registry at ${url} (ECONNREFUSED). Check schemaRegistry.url (and schemaRegistry.basicAuth)`,
    );
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  }, 60_000);

  it('refuses url together with serve: true (exit 2)', async () => {
    const config = await writeNodeConfig('both', `schemaRegistry: { url: "${registry}", serve: true }\n`);
    const result = mesh(['node', 'start', '--config', config], { ...env, OCLIF_COLUMNS: '1000' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /\/schemaRegistry\/serve: a node that uses an external registry \(`url`\) serves none/,
    );
  });
});
