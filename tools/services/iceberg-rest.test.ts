// The iceberg-rest service end to end: a real Iceberg REST catalog (the Java fixture, SQLite + file:// warehouse)
// driven by iceberg-js, the REST client the project uses. Creates a namespace and a partitioned table, loads it
// back, finds its metadata file on disk under the warehouse, lists it, drops it.
import { existsSync, readFileSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IcebergRestCatalog, getCurrentSchema, type TableIdentifier } from 'iceberg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';

let url: string;
let warehouse: string;
let catalog: IcebergRestCatalog;

// Unique per run, so a table left over by a failed run never collides with this one.
const namespace = [`datamesh_test_${process.pid}_${Date.now()}`];
const table: TableIdentifier = { namespace, name: 'orders' };

beforeAll(async () => {
  const { 'iceberg-rest': iceberg } = await useServices('iceberg-rest');
  url = iceberg.url;
  warehouse = iceberg.warehouse;
  // No warehouse/catalogName: the fixture's /v1/config returns no prefix, and iceberg-js would then put the
  // warehouse into the path (/v1/<warehouse>/namespaces), which the fixture answers with 404.
  catalog = new IcebergRestCatalog({ baseUrl: url });
}, 300_000);

afterAll(async () => {
  // Leave nothing behind when an assertion failed half-way.
  if (catalog === undefined) return;
  if (await catalog.tableExists(table).catch(() => false)) await catalog.dropTable(table, { purge: true });
  if (await catalog.namespaceExists({ namespace }).catch(() => false))
    await catalog.dropNamespace({ namespace });
});

/** A metadata location (`file:/abs/…` or `file:///abs/…`) as a local path. */
function localPath(location: string): string {
  expect(location).toMatch(/^file:/);
  return fileURLToPath(location.replace(/^file:\/*/, 'file:///'));
}

describe('iceberg-rest service', () => {
  it('answers GET /v1/config with the catalog config', async () => {
    const config = await catalog.loadConfig();
    expect(config.overrides).toBeTypeOf('object');
    const response = await fetch(`${url}/v1/config`);
    expect(response.status).toBe(200);
  });

  it('creates, loads, lists and drops a partitioned table whose metadata is in the warehouse', async () => {
    await catalog.createNamespace({ namespace }, { properties: { owner: 'datamesh-tests' } });
    expect(await catalog.namespaceExists({ namespace })).toBe(true);
    expect((await catalog.loadNamespaceMetadata({ namespace })).properties).toMatchObject({
      owner: 'datamesh-tests',
    });

    const created = await catalog.createTable(
      { namespace },
      {
        name: table.name,
        schema: {
          type: 'struct',
          fields: [
            { id: 1, name: 'id', type: 'long', required: true },
            { id: 2, name: 'customer', type: 'string', required: false },
            { id: 3, name: 'amount', type: 'decimal(12,2)', required: true },
            { id: 4, name: 'created_at', type: 'timestamptz', required: true },
            { id: 5, name: 'shipped', type: 'boolean', required: false },
            { id: 6, name: 'delivered_on', type: 'date', required: false },
            { id: 7, name: 'updated_at', type: 'timestamp', required: false },
          ],
          'identifier-field-ids': [1],
        },
        // The Java server's parser needs spec-id although iceberg-js types it as optional.
        'partition-spec': {
          'spec-id': 0,
          fields: [{ 'source-id': 4, 'field-id': 1000, name: 'created_day', transform: 'day' }],
        },
        properties: { 'format-version': '2', 'write.format.default': 'parquet' },
      },
    );
    expect(created['table-uuid']).toMatch(/^[0-9a-f-]{36}$/);

    const loaded = await catalog.loadTableResult(table);
    if (loaded === null) throw new Error('loadTableResult answered 304 Not Modified without an ETag sent');
    const { metadata, 'metadata-location': metadataLocation } = loaded;
    expect(metadata['table-uuid']).toBe(created['table-uuid']);
    expect(metadata['format-version']).toBe(2);

    const schema = getCurrentSchema(metadata);
    expect(schema?.fields.map(({ name, type, required }) => ({ name, type, required }))).toEqual([
      { name: 'id', type: 'long', required: true },
      { name: 'customer', type: 'string', required: false },
      { name: 'amount', type: 'decimal(12, 2)', required: true },
      { name: 'created_at', type: 'timestamptz', required: true },
      { name: 'shipped', type: 'boolean', required: false },
      { name: 'delivered_on', type: 'date', required: false },
      { name: 'updated_at', type: 'timestamp', required: false },
    ]);
    expect(schema?.['identifier-field-ids']).toEqual([1]);

    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id']);
    expect(spec?.fields).toEqual([
      { 'source-id': 4, 'field-id': 1000, name: 'created_day', transform: 'day' },
    ]);

    // The table and its first metadata file are on disk, under the service's warehouse.
    if (metadataLocation === undefined) throw new Error('loadTable answered without a metadata-location');
    const metadataFile = localPath(metadataLocation);
    expect(metadataFile.startsWith(`${warehouse}${sep}`)).toBe(true);
    expect(metadataFile).toMatch(/\/metadata\/00000-[0-9a-f-]+\.metadata\.json$/);
    expect(existsSync(metadataFile)).toBe(true);
    const onDisk = JSON.parse(readFileSync(metadataFile, 'utf8')) as {
      'table-uuid': string;
      location: string;
    };
    expect(onDisk['table-uuid']).toBe(created['table-uuid']);
    expect(localPath(onDisk.location).startsWith(`${warehouse}${sep}`)).toBe(true);

    const { identifiers } = await catalog.listTables({ namespace });
    expect(identifiers).toEqual([table]);

    await catalog.dropTable(table, { purge: true });
    expect(await catalog.tableExists(table)).toBe(false);
    expect((await catalog.listTables({ namespace })).identifiers).toEqual([]);

    await catalog.dropNamespace({ namespace });
    expect(await catalog.namespaceExists({ namespace })).toBe(false);
  });
});
