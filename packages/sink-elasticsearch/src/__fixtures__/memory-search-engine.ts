import type { Engine, Properties } from '../index-mapping.js';
import {
  SearchEngineError,
  type BulkItemResult,
  type BulkResult,
  type IndexDefinition,
  type SearchEngine,
} from '../search-engine.js';

/** One action of a bulk request as the engine parsed it. */
export interface ParsedAction {
  readonly action: 'index' | 'delete';
  readonly index: string;
  readonly id: string;
  readonly version: number | undefined;
  readonly versionType: string | undefined;
  readonly source?: Record<string, unknown>;
}

interface StoredDocument {
  readonly version: number | undefined;
  readonly source: Record<string, unknown>;
}

interface MemoryIndex {
  readonly documents: Map<string, StoredDocument>;
  /** Versions of deleted documents (Elasticsearch's tombstones, kept here forever: no gc_deletes). */
  readonly tombstones: Map<string, number>;
  properties: Properties;
  readonly settings: Readonly<Record<string, unknown>>;
}

/**
 * An in-memory {@link SearchEngine} that stands in for Elasticsearch and OpenSearch in UNIT TESTS ONLY (the
 * integration tests run against the real engines). It mimics what the sink relies on: external versioning as
 * the engines do it (`external_gte`, which the sink sends: a write whose version is below the stored one, or a
 * remembered delete's, answers 409 version_conflict_engine_exception, an equal one applies; `external`: a
 * write must be above it), a delete of a missing document answers 404 not_found (and remembers its version),
 * and item order in responses. Tests script failures: per item (`itemHook`: 429, mapper
 * errors), per request (`requestHook`: throw a SearchEngineError), and can hold bulk calls (`gate`) to watch
 * how many are in flight. Mapping types are not checked.
 */
export class MemorySearchEngine implements SearchEngine {
  readonly engine: Engine;
  readonly indexes = new Map<string, MemoryIndex>();
  /** Every bulk request's actions, in the order requests arrived. */
  readonly requests: ParsedAction[][] = [];
  readonly calls: string[] = [];
  itemHook: ((action: ParsedAction) => BulkItemResult | undefined) | undefined;
  requestHook: ((actions: readonly ParsedAction[]) => void | Promise<void>) | undefined;
  /** While set, bulk calls wait for it before answering. */
  gate: Promise<void> | undefined;
  inFlight = 0;
  peakInFlight = 0;
  /** Documents (by index and id) in requests that are in flight now; a second concurrent one is an error. */
  private readonly busy = new Set<string>();
  readonly overlaps: string[] = [];

  constructor(engine: Engine = 'opensearch') {
    this.engine = engine;
  }

  async info() {
    this.calls.push('info');
    return { distribution: this.engine, version: 'memory' };
  }

  async bulk(body: string): Promise<BulkResult> {
    if (!body.endsWith('\n'))
      throw new SearchEngineError('the bulk body must end with a newline', 400, 'parse_exception');
    const actions = parseBulk(body);
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    const keys = actions.map((a) => `${a.index}\u0000${a.id}`);
    for (const key of keys) {
      if (this.busy.has(key)) this.overlaps.push(key);
      this.busy.add(key);
    }
    try {
      await this.requestHook?.(actions);
      if (this.gate) await this.gate;
      this.requests.push(actions);
      this.calls.push(`bulk ${actions.map((a) => a.id).join(',')}`);
      const items = actions.map((action) => this.itemHook?.(action) ?? this.apply(action));
      return { errors: items.some((item) => item.status >= 300), items };
    } finally {
      for (const key of keys) this.busy.delete(key);
      this.inFlight--;
    }
  }

  async indexExists(index: string): Promise<boolean> {
    this.calls.push(`exists ${index}`);
    return this.indexes.has(index);
  }

  async createIndex(index: string, definition: IndexDefinition): Promise<void> {
    this.calls.push(`create ${index}`);
    if (this.indexes.has(index)) {
      throw new SearchEngineError(
        `index [${index}] already exists`,
        400,
        'resource_already_exists_exception',
      );
    }
    this.indexes.set(index, {
      documents: new Map(),
      tombstones: new Map(),
      properties: structuredClone(definition.mappings.properties),
      settings: definition.settings,
    });
  }

  async getMapping(index: string): Promise<ReadonlyMap<string, Properties>> {
    this.calls.push(`get mapping ${index}`);
    return new Map([[index, structuredClone(this.index(index).properties)]]);
  }

  async putMapping(index: string, properties: Properties): Promise<void> {
    this.calls.push(`put mapping ${index} ${Object.keys(properties).join(',')}`);
    const target = this.index(index);
    target.properties = { ...target.properties, ...structuredClone(properties) };
  }

  async deleteByQuery(index: string, query: Readonly<Record<string, unknown>>) {
    this.calls.push(`delete_by_query ${index} ${JSON.stringify(query)}`);
    const target = this.index(index);
    const deleted = target.documents.size;
    target.documents.clear();
    return { deleted };
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }

  /** The documents of an index, by id. */
  documents(index: string): Record<string, Record<string, unknown>> {
    const target = this.indexes.get(index);
    return Object.fromEntries([...(target?.documents ?? [])].map(([id, doc]) => [id, doc.source]));
  }

  version(index: string, id: string): number | undefined {
    return this.indexes.get(index)?.documents.get(id)?.version;
  }

  private index(index: string): MemoryIndex {
    const target = this.indexes.get(index);
    if (!target) throw new SearchEngineError(`no such index [${index}]`, 404, 'index_not_found_exception');
    return target;
  }

  private apply(action: ParsedAction): BulkItemResult {
    let target = this.indexes.get(action.index);
    if (!target) {
      target = { documents: new Map(), tombstones: new Map(), properties: {}, settings: {} };
      this.indexes.set(action.index, target);
    }
    if (action.versionType !== undefined && !['external', 'external_gte'].includes(action.versionType)) {
      return {
        status: 400,
        error: {
          type: 'illegal_argument_exception',
          reason: `version_type [${action.versionType}] is not one this stand-in knows`,
        },
      };
    }
    const stored = target.documents.get(action.id)?.version ?? target.tombstones.get(action.id);
    if (action.version !== undefined && stored !== undefined) {
      // As the engines' VersionType: external needs a higher version, external_gte a higher or equal one
      // (for index and delete alike, against a document or a delete's tombstone).
      if (action.versionType === 'external' && action.version <= stored) {
        return conflict(action, stored, 'higher or equal to');
      }
      if (action.versionType === 'external_gte' && action.version < stored) {
        return conflict(action, stored, 'higher than');
      }
    }
    if (action.action === 'index') {
      const existed = target.documents.has(action.id);
      target.documents.set(action.id, { version: action.version, source: action.source ?? {} });
      target.tombstones.delete(action.id);
      return { status: existed ? 200 : 201, result: existed ? 'updated' : 'created' };
    }
    const existed = target.documents.delete(action.id);
    if (action.version !== undefined) target.tombstones.set(action.id, action.version);
    return existed ? { status: 200, result: 'deleted' } : { status: 404, result: 'not_found' };
  }
}

/** The item a version conflict answers, worded as the engines word it. */
function conflict(action: ParsedAction, stored: number, relation: string): BulkItemResult {
  return {
    status: 409,
    error: {
      type: 'version_conflict_engine_exception',
      reason: `[${action.id}]: version conflict, current version [${stored}] is ${relation} the one provided [${action.version}]`,
    },
  };
}

/** Parses an NDJSON bulk body (index and delete actions). */
export function parseBulk(body: string): ParsedAction[] {
  const lines = body.split('\n');
  lines.pop();
  const actions: ParsedAction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = JSON.parse(lines[i]!) as Record<string, Record<string, unknown>>;
    const [action, meta] = Object.entries(line)[0]!;
    if (action !== 'index' && action !== 'delete') throw new Error(`unexpected bulk action ${action}`);
    const base = {
      action,
      index: String(meta['_index']),
      id: String(meta['_id']),
      version: meta['version'] as number | undefined,
      versionType: meta['version_type'] as string | undefined,
    } as const;
    if (action === 'index') {
      actions.push({ ...base, source: JSON.parse(lines[++i]!) as Record<string, unknown> });
    } else {
      actions.push(base);
    }
  }
  return actions;
}
