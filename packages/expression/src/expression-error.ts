/** Where an expression failed: its syntax, its types (both found when it is compiled), or an evaluation. */
export type ExpressionErrorKind = 'syntax' | 'type' | 'evaluation';

export interface ExpressionErrorInit {
  readonly kind: ExpressionErrorKind;
  /** A stable identifier of the problem: cel-js's (`no_such_overload`, `unknown_variable`, …) or ours. */
  readonly code: string;
  /** What is wrong, without the location. */
  readonly summary: string;
  readonly expression: string;
  /** Offsets into the expression of the part at fault (`end` exclusive). */
  readonly start?: number | undefined;
  readonly end?: number | undefined;
  readonly cause?: unknown;
}

/**
 * An expression that does not compile or failed to evaluate. The message states what is wrong, where (line and
 * column, from 1), and shows the line with a caret under the part at fault:
 *
 *     no such overload: double > string, at line 1, column 14:
 *       1 | after.amount > "x"
 *         |              ^
 */
export class ExpressionError extends Error {
  readonly kind: ExpressionErrorKind;
  readonly code: string;
  readonly summary: string;
  readonly expression: string;
  readonly line: number | undefined;
  readonly column: number | undefined;

  constructor(init: ExpressionErrorInit) {
    const location = init.start === undefined ? undefined : locate(init.expression, init.start, init.end);
    super(
      location
        ? `${init.summary}, at line ${location.line}, column ${location.column}:\n${location.excerpt}`
        : init.summary,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.name = 'ExpressionError';
    this.kind = init.kind;
    this.code = init.code;
    this.summary = init.summary;
    this.expression = init.expression;
    this.line = location?.line;
    this.column = location?.column;
  }
}

function locate(expression: string, start: number, end: number | undefined) {
  const at = Math.max(0, Math.min(start, expression.length));
  const lineStart = expression.lastIndexOf('\n', at - 1) + 1;
  const newline = expression.indexOf('\n', at);
  const lineEnd = newline < 0 ? expression.length : newline;
  const line = expression.slice(0, lineStart).split('\n').length;
  const column = at - lineStart + 1;
  const width = Math.max(1, Math.min(end ?? at + 1, lineEnd) - at);
  const number = String(line);
  const gutter = ' '.repeat(number.length);
  const text = expression.slice(lineStart, lineEnd);
  // Tabs kept, so the caret lines up under a tab-indented expression.
  const marker = `${text.slice(0, column - 1).replace(/[^\t]/g, ' ')}^${'~'.repeat(width - 1)}`;
  return { line, column, excerpt: `  ${number} | ${text}\n  ${gutter} | ${marker}` };
}
