import { type Static, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';

export type { Static, TSchema };

/** The pattern of plugin and stage names: lowercase letters, digits and single dashes (`order-events`). */
export const KEBAB_CASE_PATTERN = '^[a-z][a-z0-9]*(-[a-z0-9]+)*$';

/** One problem with a value, located by a JSON pointer (`/tables/0/name`). */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Thrown when a configuration does not satisfy its schema; lists every issue at once. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  readonly subject: string;

  constructor(subject: string, issues: readonly ConfigIssue[]) {
    super(
      `${subject}: invalid configuration\n${issues.map((i) => `  - ${i.path || '/'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.subject = subject;
    this.issues = issues;
  }
}

/**
 * Validates `input` against a TypeBox schema, applying the schema's defaults first.
 * Returns the typed config or throws a ConfigError that names every failing field.
 */
export function parseConfig<S extends TSchema>(schema: S, input: unknown, subject = 'config'): Static<S> {
  const withDefaults = numbersFromText(schema, Value.Default(schema, structuredClone(input ?? {})));
  const issues = collectIssues(schema, withDefaults);
  if (issues.length > 0) throw new ConfigError(subject, issues);
  return withDefaults as Static<S>;
}

/**
 * Takes text where the schema wants a number or a boolean as one (`port: ${PGPORT}`: a value filled from an
 * environment variable is always text). Nothing else is converted: a number where text is wanted stays an error.
 */
function numbersFromText(schema: TSchema, value: unknown): unknown {
  const type = schema['type'] as string | undefined;
  if (typeof value === 'string') {
    const text = value.trim();
    if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text))
      return Number(text);
    if (type === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
    const branches = schema['anyOf'] as TSchema[] | undefined;
    if (branches && !branches.some((b) => Value.Check(b, value))) {
      for (const branch of branches) {
        const converted = numbersFromText(branch, value);
        if (converted !== value && Value.Check(branch, converted)) return converted;
      }
    }
    return value;
  }
  if (Array.isArray(value) && schema['items']) {
    return value.map((item) => numbersFromText(schema['items'] as TSchema, item));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const properties = schema['properties'] as Record<string, TSchema> | undefined;
    const patterns = schema['patternProperties'] as Record<string, TSchema> | undefined;
    const each = patterns ? Object.values(patterns)[0] : undefined;
    if (!properties && !each) return value;
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      const fieldSchema = properties?.[key] ?? each;
      out[key] = fieldSchema ? numbersFromText(fieldSchema, field) : field;
    }
    return out;
  }
  return value;
}

export function collectIssues(schema: TSchema, value: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    // A union failure reports once per branch; keep the first message per path.
    const key = `${error.path}\u0000${error.message}`;
    if (seen.has(key) || [...seen].some((k) => k.startsWith(`${error.path}\u0000`))) continue;
    seen.add(key);
    issues.push({ path: error.path, message: messageOf(error) });
  }
  return issues;
}

/**
 * TypeBox's message, except where it says less than the schema knows: a union of literals lists the allowed
 * values, and the kebab-case pattern is described in words.
 */
function messageOf(error: ValueError): string {
  if (error.type === ValueErrorType.Union) {
    const branches = error.schema['anyOf'] as TSchema[] | undefined;
    if (branches && branches.length > 0 && branches.every((b) => b['const'] !== undefined)) {
      const allowed = branches.map((b) => String(b['const'])).join(', ');
      return `must be one of ${allowed}${got(error.value)}`;
    }
  }
  if (error.type === ValueErrorType.StringPattern && error.schema['pattern'] === KEBAB_CASE_PATTERN) {
    return `must be kebab-case: lowercase letters, digits and single dashes${got(error.value)}`;
  }
  return error.message;
}

function got(value: unknown): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value) ?? String(value);
  return ` (got ${text.length > 60 ? `${text.slice(0, 59)}…` : text})`;
}

/** The JSON Schema of a config schema, for the controller, editors and docs. */
export function configJsonSchema(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

/** A Markdown table documenting each config field: name, type, default, description. */
export function configDocs(schema: TSchema): string {
  const rows: string[] = [
    '| field | type | required | default | description |',
    '| --- | --- | --- | --- | --- |',
  ];
  walk(schema, '', true, rows);
  return rows.join('\n');
}

function walk(schema: TSchema, prefix: string, required: boolean, rows: string[]): void {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (schema['type'] === 'object' && properties) {
    const requiredKeys = new Set((schema as { required?: string[] }).required ?? []);
    for (const [key, child] of Object.entries(properties)) {
      walk(child, prefix ? `${prefix}.${key}` : key, requiredKeys.has(key), rows);
    }
    return;
  }
  if (!prefix) return;
  rows.push(
    `| \`${prefix}\` | ${describeType(schema)} | ${required && schema['default'] === undefined ? 'yes' : 'no'} | ${
      schema['default'] === undefined ? '' : `\`${JSON.stringify(schema['default'])}\``
    } | ${(schema['description'] as string | undefined) ?? ''} |`,
  );
}

function describeType(schema: TSchema): string {
  if (Array.isArray(schema['anyOf'])) return (schema['anyOf'] as TSchema[]).map(describeType).join(' \\| ');
  if (schema['const'] !== undefined) return `\`${JSON.stringify(schema['const'])}\``;
  if (schema['type'] === 'array') return `${describeType(schema['items'] as TSchema)}[]`;
  return String(schema['type'] ?? 'any');
}
