import type { ASTNode } from '@marcbachmann/cel-js';
import type { RecordShape } from './avro-shapes.js';
import { ExpressionError, type ExpressionErrorKind } from './expression-error.js';

const BINARY = new Set(['==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', 'in']);

/** What cel-js errors carry (ParseError, TypeError, EvaluationError). */
interface CelError {
  readonly code?: string;
  readonly summary?: string;
  readonly message: string;
  readonly node?: ASTNode | { readonly pos?: number; readonly start?: number; readonly end?: number };
  readonly range?: { readonly start: number; readonly end: number };
}

export interface ErrorContext {
  readonly expression: string;
  readonly variables: readonly string[];
  readonly records: ReadonlyMap<string, RecordShape>;
}

/** An ExpressionError for a cel-js error: its summary with a hint where one helps, located at the fault. */
export function fromCelError(
  error: unknown,
  kind: ExpressionErrorKind,
  context: ErrorContext,
): ExpressionError {
  if (!(error instanceof Error)) {
    return new ExpressionError({
      kind,
      code: 'error',
      summary: String(error),
      expression: context.expression,
    });
  }
  const cel = error as CelError;
  const summary = cel.summary ?? error.message;
  const code = cel.code ?? 'error';
  const node = cel.node;
  const astNode = node && 'op' in node ? node : undefined;
  let start = node?.pos ?? node?.start ?? cel.range?.start;
  let end = cel.range?.end ?? node?.end;
  const operator = astNode && BINARY.has(astNode.op) ? operatorAt(context.expression, astNode) : undefined;
  if (operator) ({ start, end } = operator);
  else if (start !== undefined && end !== undefined && end <= start) end = undefined;
  return new ExpressionError({
    kind,
    code,
    summary: summary + hint(code, summary, astNode, kind, context),
    expression: context.expression,
    start,
    end,
    cause: error,
  });
}

/** Where a binary operator's token is: between its operands, outside comments. */
function operatorAt(expression: string, node: ASTNode): { start: number; end: number } | undefined {
  const [left, right] = node.args as [ASTNode, ASTNode];
  const between = expression.slice(left.end, right.start).replace(/\/\/[^\n]*/g, (c) => ' '.repeat(c.length));
  const offset = between.indexOf(node.op);
  return offset < 0 ? undefined : { start: left.end + offset, end: left.end + offset + node.op.length };
}

function hint(
  code: string,
  summary: string,
  node: ASTNode | undefined,
  kind: ExpressionErrorKind,
  context: ErrorContext,
): string {
  if (code === 'unknown_variable') return `; the expression can use ${context.variables.join(', ')}`;
  if (code === 'no_such_key' && node && (node.op === '.' || node.op === '[]')) {
    const receiver = node.args[0] as ASTNode & { checkedType?: { name: string } };
    const record = receiver.checkedType && context.records.get(receiver.checkedType.name);
    if (record) {
      const text = context.expression.slice(receiver.start, receiver.end);
      return `; ${text} has the fields ${[...record.fields.keys()].join(', ')}`;
    }
  }
  if (code === 'no_such_overload' && /\bnull\b/.test(summary)) {
    if (kind === 'evaluation') {
      return ' (a null value reached an operator: guard it, e.g. `x != null && …` or `x != null ? x : …`)';
    }
    const other = summary.match(/: (.+) (?:==|!=) null$|: null (?:==|!=) (.+)$/);
    const type = other?.[1] ?? other?.[2];
    if (type && !type.startsWith('dyn')) return ` (a ${type} is never null: its Avro type is not nullable)`;
  }
  return '';
}
