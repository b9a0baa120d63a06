import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { ConfigError, configDocs, parseConfig } from './config-schema.js';

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

  it('documents fields with type, default and description', () => {
    const docs = configDocs(schema);
    expect(docs).toContain('| `host` | string | yes |  | Server host |');
    expect(docs).toContain('| `port` | integer | no | `5432` |');
  });
});
