import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { collectIssues, ConfigError, configDocs, KEBAB_CASE_PATTERN, parseConfig } from './config-schema.js';

const schema = Type.Object({
  host: Type.String({ description: 'Server host' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 5432 }),
  tables: Type.Array(Type.Object({ name: Type.String({ minLength: 1 }) }), { default: [] }),
});

describe('parseConfig', () => {
  it('applies defaults and returns the typed value', () => {
    expect(parseConfig(schema, { host: 'db' })).toEqual({ host: 'db', port: 5432, tables: [] });
  });

  it('reports every failing field with its path at once', () => {
    let error: unknown;
    try {
      parseConfig(schema, { port: 'x', tables: [{ name: '' }] }, 'source "orders"');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['/host', '/port', '/tables/0/name']));
    expect((error as Error).message).toContain('source "orders": invalid configuration');
  });

  it('takes text where a number or a boolean is wanted as one (values filled from environment variables)', () => {
    const schema = Type.Object({
      port: Type.Integer(),
      ratio: Type.Optional(Type.Number()),
      tls: Type.Boolean({ default: false }),
      nested: Type.Optional(Type.Object({ retries: Type.Integer() })),
      limits: Type.Optional(Type.Array(Type.Integer())),
      byName: Type.Optional(Type.Record(Type.String(), Type.Integer())),
      either: Type.Optional(Type.Union([Type.Literal('auto'), Type.Integer()])),
      name: Type.Optional(Type.String()),
    });
    expect(
      parseConfig(schema, {
        port: '55432',
        ratio: ' 0.5 ',
        tls: 'true',
        nested: { retries: '3' },
        limits: ['1', '2'],
        byName: { a: '7' },
        either: '12',
        name: '42',
      }),
    ).toEqual({
      port: 55432,
      ratio: 0.5,
      tls: true,
      nested: { retries: 3 },
      limits: [1, 2],
      byName: { a: 7 },
      either: 12,
      name: '42',
    });
    expect(parseConfig(schema, { port: 1, either: 'auto' }).either).toBe('auto');
    expect(() => parseConfig(schema, { port: 'many', tls: 'yes' })).toThrow(
      /\/port: Expected integer[\s\S]*\/tls: Expected boolean/,
    );
    expect(() => parseConfig(schema, { port: 1, name: 42 })).toThrow(/\/name: Expected string/);
  });

  it('documents fields with type, default and description', () => {
    const docs = configDocs(schema);
    expect(docs).toContain('| `host` | string | yes |  | Server host |');
    expect(docs).toContain('| `port` | integer | no | `5432` |');
  });
});

describe('collectIssues messages', () => {
  const spec = Type.Object({
    fsync: Type.Union([Type.Literal('always'), Type.Literal('interval'), Type.Literal('never')]),
    mode: Type.Union([Type.Literal(1), Type.Literal(true)]),
    name: Type.String({ pattern: KEBAB_CASE_PATTERN }),
    either: Type.Union([Type.String(), Type.Number()]),
    code: Type.String({ pattern: '^[A-Z]+$' }),
  });
  const valid = { fsync: 'always', mode: 1, name: 'ok', either: 'x', code: 'OK' };
  const messageAt = (path: string, value: Record<string, unknown>) =>
    collectIssues(spec, { ...valid, ...value }).find((i) => i.path === path)?.message;

  it('lists the allowed values of a union of literals, and the value given', () => {
    expect(messageAt('/fsync', { fsync: 'sometimes' })).toBe(
      'must be one of always, interval, never (got "sometimes")',
    );
    expect(messageAt('/mode', { mode: 'x' })).toBe('must be one of 1, true (got "x")');
    expect(messageAt('/fsync', { fsync: 'x'.repeat(100) })).toBe(
      `must be one of always, interval, never (got "${'x'.repeat(58)}…)`,
    );
  });

  it('describes the kebab-case pattern in words', () => {
    expect(messageAt('/name', { name: 'Bad Name' })).toBe(
      'must be kebab-case: lowercase letters, digits and single dashes (got "Bad Name")',
    );
  });

  it('keeps TypeBox’s message for everything else', () => {
    expect(messageAt('/either', { either: true })).toBe('Expected union value');
    expect(messageAt('/code', { code: 'no' })).toBe("Expected string to match '^[A-Z]+$'");
    expect(messageAt('/name', { name: 7 })).toBe('Expected string');
    const { fsync: _omitted, ...withoutFsync } = valid;
    expect(collectIssues(spec, withoutFsync)[0]?.message).toBe('Expected required property');
  });
});
