export {
  compileExpression,
  type CompiledExpression,
  type CompileOptions,
  type ExpressionScope,
} from './compile-expression.js';
export { ExpressionError, type ExpressionErrorKind } from './expression-error.js';
export { AvroNames } from './avro-names.js';
