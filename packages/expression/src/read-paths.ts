import type { ASTNode } from '@marcbachmann/cel-js';
import type { Shape } from './avro-shapes.js';

/** Macros whose first argument names an iteration variable, bound in the arguments after it. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

/**
 * The variable fields an expression reads, from its syntax tree: `after.amount`, `op`, `after.address.city`.
 * A path stops at the first value that is not a record (`after.tags` for `after.tags[0]`, `after.attrs` for
 * `after.attrs.color`): the whole of that value is read. A variable used as a whole (`after == null`,
 * `after.tags.exists(t, …)` for `after.tags`) is a path of its name alone. Sorted, without repeats.
 */
export function readPaths(ast: ASTNode, variables: ReadonlyMap<string, Shape>): string[][] {
  const found = new Map<string, string[]>();
  const record = (path: string[]) => found.set(path.join('.'), path);

  /** The variable path an access chain reads, or undefined when it is not rooted at a (free) variable. */
  function chain(node: ASTNode, bound: ReadonlySet<string>): string[] | undefined {
    switch (node.op) {
      case 'id':
        return variables.has(node.args) && !bound.has(node.args) ? [node.args] : undefined;
      case '.':
      case '.?': {
        const base = chain(node.args[0], bound);
        return base && [...base, node.args[1]];
      }
      case '[]':
      case '[?]': {
        const index = node.args[1];
        if (index.op !== 'value' || typeof index.args !== 'string') return undefined;
        const base = chain(node.args[0], bound);
        return base && [...base, index.args];
      }
      default:
        return undefined;
    }
  }

  function visit(node: ASTNode, bound: ReadonlySet<string>): void {
    const path = chain(node, bound);
    if (path) {
      record(truncate(path, variables.get(path[0]!)!));
      return;
    }
    switch (node.op) {
      case 'value':
      case 'id':
        return;
      case '.':
      case '.?':
        return visit(node.args[0], bound);
      case '!_':
      case '-_':
        return visit(node.args, bound);
      case 'call':
        return node.args[1].forEach((arg) => visit(arg, bound));
      case 'rcall': {
        const [name, receiver, args] = node.args;
        const iteration = args[0]?.op === 'id' ? args[0].args : undefined;
        if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel' && iteration !== undefined) {
          // cel.bind(x, init, body): x is bound in body only.
          if (args[1]) visit(args[1], bound);
          if (args[2]) visit(args[2], new Set([...bound, iteration]));
          return;
        }
        visit(receiver, bound);
        if (COMPREHENSIONS.has(name) && iteration !== undefined) {
          const inner = new Set([...bound, iteration]);
          args.slice(1).forEach((arg) => visit(arg, inner));
          return;
        }
        return args.forEach((arg) => visit(arg, bound));
      }
      case 'map':
        return node.args.forEach(([key, value]) => {
          visit(key, bound);
          visit(value, bound);
        });
      default:
        return (node.args as readonly ASTNode[]).forEach((arg) => visit(arg, bound));
    }
  }

  visit(ast, new Set());
  return [...found.keys()].sort().map((key) => found.get(key)!);
}

/** The path up to the first value below which there are no record fields to select. */
function truncate(path: readonly string[], root: Shape): string[] {
  const out = [path[0]!];
  let shape = root;
  for (const segment of path.slice(1)) {
    if (shape.kind !== 'record') break;
    const field = shape.fields.get(segment);
    if (!field) break;
    out.push(segment);
    shape = field;
  }
  return out;
}
