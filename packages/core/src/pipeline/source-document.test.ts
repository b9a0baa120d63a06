import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DocumentError, SourceDocument } from './source-document.js';

function problemsOf(parse: () => unknown): string[] {
  try {
    parse();
  } catch (error) {
    if (error instanceof DocumentError)
      return error.problems.map((p) => `${p.location?.line}:${p.location?.column} ${p.path}: ${p.message}`);
    throw error;
  }
  throw new Error('expected a DocumentError');
}

describe('SourceDocument: ${NAME} references to environment variables', () => {
  const env = { PG_PASSWORD: 's3cret', PG_PORT: '5432', PG_HOST: 'db.internal', EMPTY: '' };

  it('replaces references in string values, anywhere in the document', () => {
    const doc = SourceDocument.parse(
      [
        'config:',
        '  password: ${PG_PASSWORD}',
        '  url: "postgres://${PG_HOST}:${PG_PORT}/app"',
        '  tables: [users, "${PG_HOST}-audit"]',
        '  nested: { deeper: [{ secret: "${PG_PASSWORD}" }] }',
        '  empty: ${EMPTY}',
      ].join('\n'),
      'p.yaml',
      { env },
    );
    expect(doc.value).toEqual({
      config: {
        password: 's3cret',
        url: 'postgres://db.internal:5432/app',
        tables: ['users', 'db.internal-audit'],
        nested: { deeper: [{ secret: 's3cret' }] },
        empty: '',
      },
    });
  });

  it('keeps a whole-string reference a string, whatever the variable holds', () => {
    const doc = SourceDocument.parse('port: ${PG_PORT}\nflag: ${YES}\n', 'p.yaml', {
      env: { PG_PORT: '5432', YES: 'true' },
    });
    expect(doc.value).toEqual({ port: '5432', flag: 'true' });
  });

  it('reads $${ as a literal ${, and leaves other dollars alone', () => {
    const doc = SourceDocument.parse('a: "$${PG_PASSWORD}"\nb: "cost $5, $$, ${PG_PORT}$"\n', 'p.yaml', {
      env,
    });
    expect(doc.value).toEqual({ a: '${PG_PASSWORD}', b: 'cost $5, $$, 5432$' });
  });

  it('leaves keys alone', () => {
    expect(SourceDocument.parse('"${PG_PORT}": x\n', 'p.yaml', { env }).value).toEqual({ '${PG_PORT}': 'x' });
  });

  it('reports every unset variable at once, at its value, and never a value', () => {
    const text = [
      'sources:',
      '  - name: db',
      '    config:',
      '      password: ${PG_PASSWORD}',
      '      user: "${PG_USER}@${PG_DOMAIN}"',
      'sinks:',
      '  - config: { token: "${API_TOKEN}", host: "${PG_HOST}" }',
    ].join('\n');
    expect(problemsOf(() => SourceDocument.parse(text, 'p.yaml', { env: { PG_HOST: 'h' } }))).toEqual([
      '4:17 /sources/0/config/password: environment variable PG_PASSWORD is not set',
      '5:13 /sources/0/config/user: environment variable PG_USER is not set',
      '5:13 /sources/0/config/user: environment variable PG_DOMAIN is not set',
      '7:22 /sinks/0/config/token: environment variable API_TOKEN is not set',
    ]);
  });

  it('treats every reference as unset when no env is passed (core never reads process.env)', () => {
    expect(problemsOf(() => SourceDocument.parse('a: ${HOME}\n', 'p.yaml'))).toEqual([
      '1:4 /a: environment variable HOME is not set',
    ]);
  });

  it('reports malformed references', () => {
    expect(
      problemsOf(() => SourceDocument.parse('a: "${not-a-name}"\nb: "${PG_PORT"\n', 'p.yaml', { env })),
    ).toEqual([
      '1:4 /a: "${not-a-name}" is not a variable reference: names are letters, digits and _ (write $${ for a literal ${)',
      '2:4 /b: unclosed "${" (write $${ for a literal ${)',
    ]);
  });

  it('escapes / and ~ of keys in the JSON pointer', () => {
    expect(problemsOf(() => SourceDocument.parse('"a/b~c": ${X}\n', 'p.yaml'))).toEqual([
      '1:10 /a~1b~0c: environment variable X is not set',
    ]);
  });

  it('substitutes in files read from disk too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'datamesh-doc-'));
    try {
      const file = join(dir, 'node.json');
      await writeFile(file, '{ "password": "${PG_PASSWORD}" }');
      expect((await SourceDocument.read(file, { env })).value).toEqual({ password: 's3cret' });
      const error = await SourceDocument.read(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DocumentError);
      expect((error as DocumentError).message).toContain(
        `${file}:1:15 /password: environment variable PG_PASSWORD is not set`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
