import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';

/** Where in a file a value sits, for error messages (`pipeline.yaml:12:7`). */
export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface Problem {
  /** JSON pointer into the document, e.g. `/processors/0/config/fields`. */
  readonly path: string;
  readonly message: string;
  readonly location?: Location;
}

export class DocumentError extends Error {
  readonly problems: readonly Problem[];
  constructor(what: string, problems: readonly Problem[]) {
    super(`${what}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'DocumentError';
    this.problems = problems;
  }
}

export function formatProblem(problem: Problem): string {
  const at = problem.location
    ? `${problem.location.file}:${problem.location.line}:${problem.location.column} `
    : '';
  return `${at}${problem.path || '/'}: ${problem.message}`;
}

/** Environment variables a document's `${NAME}` references are filled from. */
export type DocumentEnv = Readonly<Record<string, string | undefined>>;

export interface DocumentOptions {
  /**
   * Values for `${NAME}` references in the document's string values (`password: ${PG_PASSWORD}`); `$${` is a
   * literal `${`. Core never reads `process.env`: the caller passes it (the CLI does). Without it, no variable
   * is set, so any reference is reported as a problem.
   */
  readonly env?: DocumentEnv;
}

/**
 * A parsed YAML or JSON document that can point back to the line of any value in it. Its string values may
 * refer to environment variables as `${NAME}`, for secrets kept out of files.
 */
export class SourceDocument {
  readonly file: string;
  readonly value: unknown;
  private readonly doc: Document | undefined;
  private readonly lines: LineCounter | undefined;

  private constructor(file: string, value: unknown, doc?: Document, lines?: LineCounter) {
    this.file = file;
    this.value = value;
    this.doc = doc;
    this.lines = lines;
  }

  static async read(file: string, options: DocumentOptions = {}): Promise<SourceDocument> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new DocumentError(`cannot read ${file}`, [{ path: '', message: (error as Error).message }]);
    }
    return SourceDocument.parse(text, file, options);
  }

  /**
   * Parses YAML (JSON is YAML); syntax errors are reported with their line and column. `${NAME}` references in
   * string values are replaced from `options.env`; every unset variable is reported at once, at its value.
   */
  static parse(text: string, file = '<inline>', options: DocumentOptions = {}): SourceDocument {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new DocumentError(
        `${file} is not valid YAML`,
        doc.errors.map((e) => {
          const pos = lines.linePos(e.pos[0]);
          return {
            path: '',
            message: e.message.split('\n')[0] ?? e.message,
            location: { file, line: pos.line, column: pos.col },
          };
        }),
      );
    }
    const problems = substituteEnv(doc, options.env ?? {}, (offset) => {
      const pos = lines.linePos(offset);
      return { file, line: pos.line, column: pos.col };
    });
    if (problems.length > 0)
      throw new DocumentError(
        `${file} has environment variable references that cannot be resolved`,
        problems,
      );
    return new SourceDocument(file, doc.toJS(), doc, lines);
  }

  static fromValue(value: unknown, file = '<inline>'): SourceDocument {
    return new SourceDocument(file, value);
  }

  /** The location of the deepest existing node on a JSON-pointer path. */
  locate(path: string): Location | undefined {
    if (!this.doc || !this.lines) return undefined;
    const segments = path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    for (let n = segments.length; n >= 0; n--) {
      const keys = segments.slice(0, n).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      const node = keys.length === 0 ? this.doc.contents : this.doc.getIn(keys, true);
      if (isNode(node) && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { file: this.file, line: pos.line, column: pos.col };
      }
      // A key whose value is missing: point at the parent.
    }
    return undefined;
  }

  problem(path: string, message: string): Problem {
    const location = this.locate(path);
    return location ? { path, message, location } : { path, message };
  }
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces `${NAME}` in every string value of the document (not in keys) with `env[NAME]`, in place, so
 * locations still point at the original text; `$${` stands for a literal `${`. A value that is only a
 * reference stays a string, whatever it holds. Returns a problem per reference that cannot be resolved.
 */
function substituteEnv(doc: Document, env: DocumentEnv, locate: (offset: number) => Location): Problem[] {
  const problems: Problem[] = [];
  const visit = (node: unknown, path: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        visit(pair.value, `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => visit(item, `${path}/${index}`));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      const result = expand(node.value, env);
      if (typeof result === 'string') node.value = result;
      else {
        const location = node.range ? { location: locate(node.range[0]) } : {};
        for (const message of result.problems) problems.push({ path, message, ...location });
      }
    }
  };
  visit(doc.contents, '');
  return problems;
}

function expand(text: string, env: DocumentEnv): string | { problems: string[] } {
  const problems: string[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      if (end < 0) {
        problems.push(`unclosed "\${" (write $\${ for a literal \${)`);
        break;
      }
      const name = text.slice(i + 2, end);
      const value = env[name];
      if (!VARIABLE_NAME.test(name))
        problems.push(
          `"\${${name}}" is not a variable reference: names are letters, digits and _ (write $\${ for a literal \${)`,
        );
      else if (value === undefined) problems.push(`environment variable ${name} is not set`);
      else out += value;
      i = end + 1;
    } else {
      out += text[i];
      i++;
    }
  }
  return problems.length > 0 ? { problems } : out;
}
