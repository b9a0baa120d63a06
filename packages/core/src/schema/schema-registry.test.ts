import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CompatibilityMode } from './avro.js';
import { FileRegistryStorage } from './file-registry-storage.js';
import { memoryRegistryStorage, type RegistryStorage } from './registry-storage.js';
import {
  IncompatibleSchemaError,
  SchemaRegistry,
  SchemaRegistryError,
  parseVersion,
} from './schema-registry.js';

/** A record schema `R` with the given fields, as registry input. */
function record(...fields: ({ name: string; type: unknown; default?: unknown } | string)[]) {
  return {
    schema: JSON.stringify({
      type: 'record',
      name: 'R',
      fields: fields.map((f) => (typeof f === 'string' ? { name: f, type: 'int' } : f)),
    }),
  };
}
const withDefault = (name: string) => ({ name, type: 'string', default: 'x' });
const required = (name: string) => ({ name, type: 'string' });

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<SchemaRegistryError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(SchemaRegistryError);
    return error as SchemaRegistryError;
  }
  throw new Error('expected a refusal');
}

let registry: SchemaRegistry;
beforeEach(async () => {
  registry = await SchemaRegistry.open(memoryRegistryStorage());
});

describe('SchemaRegistry: subjects, versions and ids', () => {
  it('numbers versions per subject and gives the same schema the same id under any subject', async () => {
    const a1 = await registry.register('a-value', record('x'));
    const a2 = await registry.register('a-value', record('x', { name: 'y', type: 'int', default: 0 }));
    const b1 = await registry.register('b-value', record('x'));
    expect([a1.version, a2.version, b1.version]).toEqual([1, 2, 1]);
    expect(a1.id).toBe(1);
    expect(a2.id).toBe(2);
    expect(b1.id).toBe(a1.id);
    expect(registry.subjects()).toEqual(['a-value', 'b-value']);
    expect(registry.versions('a-value')).toEqual([1, 2]);
    expect(registry.latest('a-value')?.version).toBe(2);
    expect(registry.versionsOfId(1)).toEqual([
      { subject: 'a-value', version: 1 },
      { subject: 'b-value', version: 1 },
    ]);
  });

  it('answers a schema the subject already has with its version, whitespace and all', async () => {
    const first = await registry.register('a', record('x'));
    const again = await registry.register('a', {
      schema: `{ "type": "record",\n "name": "R", "fields": [ {"name": "x", "type": "int"} ] }`,
    });
    expect(again).toEqual(first);
    expect(registry.versions('a')).toEqual([1]);
  });

  it('hands out distinct ids to concurrent registrations, and one id to the same schema', async () => {
    const results = await Promise.all([
      registry.register('a', record('x')),
      registry.register('b', record('y')),
      registry.register('c', record('x')),
      registry.register('d', record('z')),
    ]);
    expect(results.map((r) => r.id)).toEqual([1, 2, 1, 3]);
  });

  it('looks a schema up under a subject: 40401 for an unknown subject, 40403 for a schema it lacks', async () => {
    await registry.register('a', record('x'));
    expect(registry.lookup('a', record('x'))).toMatchObject({ subject: 'a', version: 1, id: 1 });
    expect((await refusal(() => registry.lookup('a', record('y')))).code).toBe(40403);
    expect((await refusal(() => registry.lookup('nope', record('x')))).code).toBe(40401);
  });

  it('refuses unknown subjects, versions and ids with their Confluent codes', async () => {
    await registry.register('a', record('x'));
    expect((await refusal(() => registry.versions('nope'))).code).toBe(40401);
    expect((await refusal(() => registry.version('nope', 1))).code).toBe(40401);
    expect((await refusal(() => registry.version('a', 7))).code).toBe(40402);
    expect((await refusal(() => registry.schemaById(99))).code).toBe(40403);
    for (const bad of ['0', 'abc', '1.5', '99999999999', '-2'])
      expect((await refusal(() => parseVersion(bad))).code, bad).toBe(42202);
    expect(parseVersion('latest')).toBe('latest');
    expect(parseVersion('-1')).toBe('latest');
  });

  it.each([
    ['not JSON', '{"type": "record"'],
    ['an unknown type', '"strng"'],
    ['a record without fields', '{"type": "record", "name": "R"}'],
    ['a bad default', '{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}'],
    ['an empty schema', '  '],
  ])('refuses %s as an invalid schema (42201) and stores nothing', async (_, schema) => {
    const error = await refusal(registry.register('a', { schema }));
    expect([error.status, error.code]).toEqual([422, 42201]);
    expect(error.message).toMatch(/^Invalid schema: /);
    expect(registry.subjects()).toEqual([]);
  });

  it('refuses other schema types and references with a clear 42201', async () => {
    const protobuf = await refusal(
      registry.register('a', { schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }),
    );
    expect(protobuf.code).toBe(42201);
    expect(protobuf.message).toMatch(/PROTOBUF is not supported: this registry stores AVRO schemas only/);
    const refs = await refusal(
      registry.register('a', { ...record('x'), references: [{ name: 'B', subject: 'b', version: 1 }] }),
    );
    expect(refs.message).toMatch(/references are not supported/);
  });
});

describe('SchemaRegistry: soft and permanent deletes', () => {
  beforeEach(async () => {
    await registry.register('a', record('x'));
    await registry.register('a', record('x', withDefault('y')));
  });

  it('soft-deletes a version: gone from the lists, still readable with deleted, its id still resolves', async () => {
    expect(await registry.deleteVersion('a', 2)).toBe(2);
    expect(registry.versions('a')).toEqual([1]);
    expect(registry.versions('a', { deleted: true })).toEqual([1, 2]);
    expect(registry.latest('a')?.version).toBe(1);
    expect((await refusal(() => registry.version('a', 2))).code).toBe(40402);
    expect(registry.version('a', 2, { deleted: true }).deleted).toBe(true);
    expect(registry.schemaById(2)).toContain('"y"');
    expect((await refusal(registry.deleteVersion('a', 2))).code).toBe(40406);
  });

  it('deletes a version permanently only after a soft delete', async () => {
    const error = await refusal(registry.deleteVersion('a', 2, { permanent: true }));
    expect([error.status, error.code]).toEqual([404, 40407]);
    await registry.deleteVersion('a', 2);
    expect(await registry.deleteVersion('a', 2, { permanent: true })).toBe(2);
    expect(registry.versions('a', { deleted: true })).toEqual([1]);
    expect((await refusal(() => registry.schemaById(2))).code).toBe(40403);
  });

  it('numbers a new version after every version ever kept, deleted ones included', async () => {
    await registry.deleteVersion('a', 2);
    const next = await registry.register('a', record('x', withDefault('z')));
    expect(next.version).toBe(3);
  });

  it('soft-deletes a subject (and its level), then deletes it permanently', async () => {
    await registry.setSubjectCompatibility('a', 'FULL');
    expect((await refusal(registry.deleteSubject('a', { permanent: true }))).code).toBe(40405);
    expect(await registry.deleteSubject('a')).toEqual([1, 2]);
    expect(registry.subjects()).toEqual([]);
    expect(registry.subjects({ deleted: true })).toEqual(['a']);
    expect(registry.subjectCompatibility('a')).toBeUndefined();
    expect((await refusal(() => registry.versions('a'))).code).toBe(40401);
    expect((await refusal(registry.deleteSubject('a'))).code).toBe(40404);
    expect(await registry.deleteSubject('a', { permanent: true })).toEqual([1, 2]);
    expect(registry.subjects({ deleted: true })).toEqual([]);
    expect((await refusal(registry.deleteSubject('a'))).code).toBe(40401);
  });

  it('re-registers a soft-deleted schema with its id under a new version, dropping the deleted one', async () => {
    await registry.deleteSubject('a');
    const again = await registry.register('a', record('x'));
    expect(again).toMatchObject({ id: 1, version: 3 });
    expect(registry.versions('a', { deleted: true })).toEqual([2, 3]);
  });

  it('soft-deleting the last live version removes the subject level too', async () => {
    await registry.setSubjectCompatibility('a', 'NONE');
    await registry.deleteVersion('a', 1);
    expect(registry.subjectCompatibility('a')).toBe('NONE');
    await registry.deleteVersion('a', 'latest');
    expect(registry.subjectCompatibility('a')).toBeUndefined();
  });
});

describe('SchemaRegistry: compatibility config', () => {
  it('has a global level (BACKWARD by default) and subject levels that override it', async () => {
    expect(registry.globalCompatibility()).toBe('BACKWARD');
    await registry.setGlobalCompatibility('FULL');
    expect(registry.compatibility('a')).toBe('FULL');
    await registry.setSubjectCompatibility('a', 'NONE');
    expect(registry.compatibility('a')).toBe('NONE');
    expect(registry.compatibility('b')).toBe('FULL');
    expect(await registry.deleteSubjectCompatibility('a')).toBe('NONE');
    expect(registry.compatibility('a')).toBe('FULL');
    expect((await refusal(registry.deleteSubjectCompatibility('a'))).code).toBe(40401);
    expect(await registry.resetGlobalCompatibility()).toBe('FULL');
    expect(registry.globalCompatibility()).toBe('BACKWARD');
  });
});

describe('SchemaRegistry: each compatibility level, by Avro resolution', () => {
  // Adding a field without a default: old data cannot be read by the new schema (breaks BACKWARD), the old
  // schema ignores the new field (FORWARD holds). Removing a field without a default: the other way round.
  const base = record('a', required('b'));
  const addRequired = record('a', required('b'), required('c'));
  const removeRequired = record('a');
  const addOptional = record('a', required('b'), withDefault('c'));

  it.each<[CompatibilityMode, boolean, boolean, boolean]>([
    // level, accepts addRequired, accepts removeRequired, accepts addOptional
    ['BACKWARD', false, true, true],
    ['BACKWARD_TRANSITIVE', false, true, true],
    ['FORWARD', true, false, true],
    ['FORWARD_TRANSITIVE', true, false, true],
    ['FULL', false, false, true],
    ['FULL_TRANSITIVE', false, false, true],
    ['NONE', true, true, true],
  ])('%s', async (level, add, remove, optional) => {
    await registry.setGlobalCompatibility(level);
    for (const [candidate, accepted] of [
      [addRequired, add],
      [removeRequired, remove],
      [addOptional, optional],
    ] as const) {
      const subject = `s-${Math.random()}`;
      await registry.register(subject, base);
      expect(registry.testCompatibility(subject, candidate).compatible).toBe(accepted);
      const outcome = await registry.register(subject, candidate).then(
        () => true,
        (e: unknown) => {
          expect(e).toBeInstanceOf(IncompatibleSchemaError);
          expect((e as IncompatibleSchemaError).status).toBe(409);
          expect((e as IncompatibleSchemaError).code).toBe(40901);
          return false;
        },
      );
      expect(outcome, `${level}: ${candidate.schema}`).toBe(accepted);
    }
  });

  it('NONE accepts even a changed field type', async () => {
    await registry.setGlobalCompatibility('NONE');
    await registry.register('s', record('a'));
    expect((await registry.register('s', record({ name: 'a', type: 'string' }))).version).toBe(2);
  });

  // v1 → v2 → v3 where v3 only breaks v1: the plain level checks the latest version and accepts, the
  // transitive one checks them all and refuses, naming what breaks.
  it.each<[CompatibilityMode, CompatibilityMode, ReturnType<typeof record>[]]>([
    [
      'BACKWARD',
      'BACKWARD_TRANSITIVE',
      [record('a'), record('a', withDefault('b')), record('a', required('b'))],
    ],
    [
      'FORWARD',
      'FORWARD_TRANSITIVE',
      [record('a', required('b')), record('a', withDefault('b')), record('a')],
    ],
    ['FULL', 'FULL_TRANSITIVE', [record('a'), record('a', withDefault('b')), record('a', required('b'))]],
  ])(
    '%s accepts what only breaks an older version; %s refuses it',
    async (plain, transitive, [v1, v2, v3]) => {
      await registry.setSubjectCompatibility('plain', plain);
      await registry.setSubjectCompatibility('transitive', transitive);
      for (const subject of ['plain', 'transitive']) {
        await registry.register(subject, v1!);
        await registry.register(subject, v2!);
      }
      expect((await registry.register('plain', v3!)).version).toBe(3);
      const check = registry.testCompatibility('transitive', v3!);
      expect(check.compatible).toBe(false);
      expect(check.messages.join('\n')).toMatch(/cannot read|no matching field|default-less/);
      const error = await refusal(registry.register('transitive', v3!));
      expect(error).toBeInstanceOf(IncompatibleSchemaError);
      expect(error.message).toContain(`not ${transitive}-compatible`);
      // Against v2 alone (a version named), it passes.
      expect(registry.testCompatibility('transitive', v3!, 2).compatible).toBe(true);
      expect(registry.testCompatibility('transitive', v3!, 1).compatible).toBe(false);
    },
  );

  it('checks against live versions only: a soft-deleted version no longer constrains', async () => {
    await registry.setSubjectCompatibility('s', 'BACKWARD_TRANSITIVE');
    await registry.register('s', record('a'));
    await registry.register('s', record('a', withDefault('b')));
    await registry.deleteVersion('s', 1);
    expect((await registry.register('s', record('a', required('b')))).version).toBe(3);
  });

  it('tests compatibility against latest, a version, or nothing', async () => {
    expect(registry.testCompatibility('empty', record('a'), 'latest').compatible).toBe(true);
    expect((await refusal(() => registry.testCompatibility('empty', record('a'), 1))).code).toBe(40401);
    await registry.register('s', record('a'));
    expect((await refusal(() => registry.testCompatibility('s', record('a'), 4))).code).toBe(40402);
    expect(registry.testCompatibility('s', record('a', required('b')), 'latest')).toMatchObject({
      compatible: false,
      messages: [expect.stringMatching(/new schema cannot read data written with the old/)],
    });
  });

  it('also checks the level a caller asks for (SchemaAccess mode) besides the configured one', async () => {
    await registry.register('s', record('a', required('b')));
    // BACKWARD (configured) accepts removing b; FORWARD, asked for, does not.
    const error = await refusal(registry.register('s', record('a'), { alsoCheck: 'FORWARD' }));
    expect(error.message).toContain('not BACKWARD and FORWARD-compatible');
    expect((await registry.register('s', record('a'))).version).toBe(2);
  });
});

describe('SchemaRegistry: storage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datamesh-registry-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps everything in its file across a reopen and never hands out an id twice', async () => {
    const file = join(dir, 'schemas.json');
    const first = await SchemaRegistry.open(await FileRegistryStorage.open(file));
    await first.register('a', record('a'));
    await first.register('b', record('b'));
    await first.setGlobalCompatibility('FULL');
    await first.setSubjectCompatibility('a', 'NONE');
    // The schema with the highest id goes for good.
    await first.deleteSubject('b');
    await first.deleteSubject('b', { permanent: true });
    await first.register('c', record('c'));
    await first.deleteVersion('c', 1);
    await first.close();

    const reopened = await SchemaRegistry.open(await FileRegistryStorage.open(file));
    expect(reopened.subjects({ deleted: true })).toEqual(['a', 'c']);
    expect(reopened.version('c', 1, { deleted: true })).toMatchObject({ id: 3, deleted: true });
    expect(reopened.globalCompatibility()).toBe('FULL');
    expect(reopened.subjectCompatibility('a')).toBe('NONE');
    expect((await reopened.register('d', record('d'))).id).toBe(4);
    expect((await reopened.register('e', record('b'))).id).toBe(5);
  });

  it('reads a file written before versions could be deleted', async () => {
    const file = join(dir, 'schemas.json');
    const schema = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'int' }] };
    await writeFile(
      file,
      JSON.stringify({
        nextId: 3,
        subjects: {
          a: [
            { id: 1, schema },
            { id: 2, schema: 'string' },
          ],
        },
      }),
    );
    const reopened = await SchemaRegistry.open(await FileRegistryStorage.open(file));
    expect(reopened.versions('a')).toEqual([1, 2]);
    expect(reopened.version('a', 2)).toMatchObject({ id: 2, schema: '"string"' });
    await reopened.setGlobalCompatibility('NONE');
    expect((await reopened.register('a', { schema: '"long"' })).id).toBe(3);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({
      nextId: 4,
      subjects: { a: [{ version: 1, id: 1, schema }, { version: 2 }, { version: 3, id: 3, schema: 'long' }] },
      compatibility: { global: 'NONE' },
    });
  });

  it('answers a failed write with 50001, keeps the state as it was, and takes the next change', async () => {
    let fail = true;
    const storage: RegistryStorage = {
      ...memoryRegistryStorage(),
      description: 'flaky storage',
      write: async () => {
        if (fail) throw new Error('disk full');
      },
    };
    const flaky = await SchemaRegistry.open(storage);
    const error = await refusal(flaky.register('a', record('a')));
    expect([error.status, error.code]).toEqual([500, 50001]);
    expect(error.message).toMatch(/in the registry's flaky storage: disk full/);
    expect(flaky.subjects()).toEqual([]);
    fail = false;
    expect(await flaky.register('a', record('a'))).toMatchObject({ id: 1, version: 1 });
  });
});
