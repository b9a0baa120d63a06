import type { CompatibilityMode } from './avro.js';

/** One version of a subject as the registry stores it. `schema` is the canonical JSON text of the Avro schema. */
export interface StoredVersion {
  readonly subject: string;
  readonly version: number;
  readonly id: number;
  readonly schema: string;
  readonly deleted: boolean;
}

/** One durable change of the registry's state; a registration or a delete is a short list of them. */
export type RegistryChange =
  /** A version written or rewritten (a soft delete rewrites it with `deleted: true`). */
  | { readonly kind: 'version'; readonly entry: StoredVersion }
  /** A version removed for good (permanent delete). */
  | { readonly kind: 'forget-version'; readonly subject: string; readonly version: number }
  /** The global (`subject: null`) or a subject's compatibility level; `level: null` removes it. */
  | {
      readonly kind: 'config';
      readonly subject: string | null;
      readonly level: CompatibilityMode | null;
    }
  /** The next schema id to hand out. Written before the version that uses an id, and never removed. */
  | { readonly kind: 'next-id'; readonly nextId: number };

/** Everything a registry stores, as read back when it opens. */
export interface RegistrySnapshot {
  readonly nextId: number;
  readonly versions: readonly StoredVersion[];
  readonly globalLevel: CompatibilityMode | undefined;
  readonly subjectLevels: ReadonlyMap<string, CompatibilityMode>;
}

/**
 * Where a schema registry keeps its state. The registry holds the state in memory, applies one change set
 * at a time and calls `write` before anyone sees it: `write` resolves once the changes are durable, and a
 * failed `write` leaves the registry as it was. Backends: a JSON file (`FileRegistryStorage`), a compacted
 * topic on the node's transport (`TopicRegistryStorage`) and memory (`memoryRegistryStorage`).
 *
 * One registry writes to a storage at a time: two registries on the same file or topic would hand out the
 * same ids for different schemas.
 */
export interface RegistryStorage {
  /** Names the storage in errors: `file /data/schemas.json`, `topic __datamesh_schemas`. */
  readonly description: string;
  load(): Promise<RegistrySnapshot>;
  /** Makes `changes` durable. `next()` is the whole state after them, for backends that rewrite everything. */
  write(changes: readonly RegistryChange[], next: () => RegistrySnapshot): Promise<void>;
  close(): Promise<void>;
}

export const EMPTY_SNAPSHOT: RegistrySnapshot = {
  nextId: 1,
  versions: [],
  globalLevel: undefined,
  subjectLevels: new Map(),
};

/** Keeps nothing: a registry for tests and tools that need no durability. */
export function memoryRegistryStorage(): RegistryStorage {
  return {
    description: 'memory',
    load: async () => EMPTY_SNAPSHOT,
    write: async () => undefined,
    close: async () => undefined,
  };
}
