import type { SinkRecord } from '@datamesh/core';

const PLACEHOLDER = /\$\{(topic|table|schema)\}/g;
/** Characters neither engine allows in an index name (`:` is refused by Elasticsearch 8 and later). */
const INVALID = /[\\/*?"<>| ,#:]/g;
const MAX_BYTES = 255;

/**
 * Index names from the `index` config: a fixed name, or a template with `${topic}` (the input topic),
 * `${table}` and `${schema}` (from the event's source block). Substituted values are lowercased and invalid
 * characters become `_`; the literal parts were validated with the config.
 */
export class IndexNamer {
  private readonly template: string;
  private readonly fixed: boolean;
  private readonly cache = new Map<string, string>();

  constructor(template: string) {
    this.template = template;
    this.fixed = !template.includes('${');
  }

  /** The index of a record; throws when the template needs a source field the event does not carry. */
  nameFor(record: SinkRecord): string {
    if (this.fixed) return this.template;
    const source = record.event.value?.source;
    const values = {
      topic: record.topic,
      table: typeof source?.table === 'string' ? source.table : undefined,
      schema: typeof source?.schema === 'string' ? source.schema : undefined,
    };
    const cacheKey = `${values.topic}\u0000${values.table ?? ''}\u0000${values.schema ?? ''}`;
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return cached;
    const name = this.template.replace(PLACEHOLDER, (_, part: 'topic' | 'table' | 'schema') => {
      const value = values[part];
      if (value === undefined || value === '') {
        throw new Error(
          `the index template ${this.template} needs \${${part}}, and this event's source block has no ${part}`,
        );
      }
      return indexNamePart(value);
    });
    const valid = validIndexName(name);
    this.cache.set(cacheKey, valid);
    return valid;
  }
}

/** A value made fit for an index name: lowercase, invalid characters replaced by `_`. */
export function indexNamePart(value: string): string {
  return value.toLowerCase().replace(INVALID, '_');
}

function validIndexName(name: string): string {
  const trimmed = name.replace(/^[_+-]+/, '');
  if (trimmed === '' || trimmed === '.' || trimmed === '..') {
    throw new Error(`"${name}" cannot be an index name`);
  }
  return Buffer.byteLength(trimmed) <= MAX_BYTES
    ? trimmed
    : Buffer.from(trimmed)
        .subarray(0, MAX_BYTES)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
}
