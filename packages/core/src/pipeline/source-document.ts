import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';

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

/** A parsed YAML or JSON document that can point back to the line of any value in it. */
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

  static async read(file: string): Promise<SourceDocument> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new DocumentError(`cannot read ${file}`, [{ path: '', message: (error as Error).message }]);
    }
    return SourceDocument.parse(text, file);
  }

  /** Parses YAML (JSON is YAML); syntax errors are reported with their line and column. */
  static parse(text: string, file = '<inline>'): SourceDocument {
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
