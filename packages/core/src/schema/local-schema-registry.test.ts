import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AvroSchema } from './avro.js';
import { LocalSchemaRegistry } from './local-schema-registry.js';

// The real writeFileDurably, watched, so a test can see the registry write through it.
vi.mock('../transport/embedded/durable-file.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../transport/embedded/durable-file.js')>();
  return { ...original, writeFileDurably: vi.fn(original.writeFileDurably) };
});
const { writeFileDurably } = await import('../transport/embedded/durable-file.js');

const order: AvroSchema = {
  type: 'record',
  name: 'Order',
  fields: [{ name: 'id', type: 'long' }],
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-schemas-'));
  vi.mocked(writeFileDurably).mockClear();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LocalSchemaRegistry', () => {
  it('keeps subjects, versions and ids across a reopen', async () => {
    const file = join(dir, 'schemas.json');
    const registry = await LocalSchemaRegistry.open(file);
    const registered = await registry.register('orders-value', order);
    const reopened = await LocalSchemaRegistry.open(file);
    expect(await reopened.byId(registered.id)).toEqual(registered);
    expect(await reopened.latest('orders-value')).toEqual(registered);
  });

  it('knows an id by byId as soon as any register call has answered with it', async () => {
    const registry = await LocalSchemaRegistry.open(join(dir, 'schemas.json'));
    const first = registry.register('orders-value', order);
    // The same schema again while the first call is still writing the file.
    const second = registry.register('orders-value', order);
    const answered = await Promise.race([first, second]);
    expect(await registry.byId(answered.id)).toEqual(answered);
    expect((await first).id).toBe((await second).id);
  });

  it('gives the same schema under another subject, registered concurrently, the same id', async () => {
    const registry = await LocalSchemaRegistry.open(join(dir, 'schemas.json'));
    const [a, b] = await Promise.all([
      registry.register('orders-value', order),
      registry.register('orders-copy-value', order),
    ]);
    expect(b.id).toBe(a.id);
  });

  it('writes the file durably (temp file, fsync, rename, fsync of the folder) and leaves no temp file', async () => {
    const file = join(dir, 'nested', 'schemas.json');
    const registry = await LocalSchemaRegistry.open(file);
    await registry.register('orders-value', order);
    expect(writeFileDurably).toHaveBeenCalledWith(file, expect.any(String));
    expect(await readdir(join(dir, 'nested'))).toEqual(['schemas.json']);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ subjects: { 'orders-value': [{}] } });
  });

  it.each([
    ['a truncated', '{"nextId": 2, "subj'],
    ['an empty', ''],
    ['a foreign JSON', '[1, 2]'],
  ])('refuses %s file, naming it and saying what to do', async (_, text) => {
    const file = join(dir, 'schemas.json');
    await writeFile(file, text);
    const error = await LocalSchemaRegistry.open(file).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      new RegExp(`^the schema registry file ${file.replace(/[.\\/]/g, '\\$&')} is corrupt \\(.+\\)`),
    );
    expect((error as Error).message).toMatch(/restore it from a backup/);
  });
});
