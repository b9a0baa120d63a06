import type { CompatibilityMode } from './avro.js';
import type { RegistryChange, RegistrySnapshot, StoredVersion } from './registry-storage.js';

/**
 * The registry's state at one moment: subjects with their versions, compatibility levels and the next id.
 * Never changed in place: `with(changes)` returns the state after them, so a failed write leaves the old one.
 */
export class RegistryState {
  readonly nextId: number;
  readonly globalLevel: CompatibilityMode | undefined;
  /** Subject → version number → entry, deleted versions included. */
  private readonly subjects: ReadonlyMap<string, ReadonlyMap<number, StoredVersion>>;
  private readonly subjectLevels: ReadonlyMap<string, CompatibilityMode>;
  /** Schema id → the versions that carry it, in the order they were stored. */
  private readonly byId = new Map<number, StoredVersion[]>();
  /** Canonical schema text → its id. */
  private readonly idByText = new Map<string, number>();

  private constructor(
    nextId: number,
    globalLevel: CompatibilityMode | undefined,
    subjects: ReadonlyMap<string, ReadonlyMap<number, StoredVersion>>,
    subjectLevels: ReadonlyMap<string, CompatibilityMode>,
  ) {
    this.globalLevel = globalLevel;
    this.subjects = subjects;
    this.subjectLevels = subjectLevels;
    let maxId = 0;
    for (const versions of subjects.values()) {
      for (const entry of versions.values()) {
        maxId = Math.max(maxId, entry.id);
        const carriers = this.byId.get(entry.id);
        if (carriers) carriers.push(entry);
        else this.byId.set(entry.id, [entry]);
        this.idByText.set(entry.schema, entry.id);
      }
    }
    // A stored next id below an id in use (a crash between the two writes, a hand-edited file): never reuse.
    this.nextId = Math.max(nextId, maxId + 1);
  }

  static from(snapshot: RegistrySnapshot): RegistryState {
    const subjects = new Map<string, Map<number, StoredVersion>>();
    for (const entry of snapshot.versions) {
      let versions = subjects.get(entry.subject);
      if (!versions) subjects.set(entry.subject, (versions = new Map()));
      versions.set(entry.version, entry);
    }
    return new RegistryState(
      snapshot.nextId,
      snapshot.globalLevel,
      sortVersions(subjects),
      new Map(snapshot.subjectLevels),
    );
  }

  /** The state after `changes`, applied in order. */
  with(changes: readonly RegistryChange[]): RegistryState {
    let nextId = this.nextId;
    let globalLevel = this.globalLevel;
    const subjects = new Map([...this.subjects].map(([s, versions]) => [s, new Map(versions)]));
    const subjectLevels = new Map(this.subjectLevels);
    for (const change of changes) {
      switch (change.kind) {
        case 'version': {
          const { entry } = change;
          let versions = subjects.get(entry.subject);
          if (!versions) subjects.set(entry.subject, (versions = new Map()));
          versions.set(entry.version, entry);
          break;
        }
        case 'forget-version': {
          const versions = subjects.get(change.subject);
          versions?.delete(change.version);
          if (versions?.size === 0) subjects.delete(change.subject);
          break;
        }
        case 'config':
          if (change.subject === null) globalLevel = change.level ?? undefined;
          else if (change.level === null) subjectLevels.delete(change.subject);
          else subjectLevels.set(change.subject, change.level);
          break;
        case 'next-id':
          nextId = Math.max(nextId, change.nextId);
          break;
      }
    }
    return new RegistryState(nextId, globalLevel, sortVersions(subjects), subjectLevels);
  }

  snapshot(): RegistrySnapshot {
    return {
      nextId: this.nextId,
      versions: [...this.subjects.values()].flatMap((versions) => [...versions.values()]),
      globalLevel: this.globalLevel,
      subjectLevels: this.subjectLevels,
    };
  }

  /** Subjects with at least one version (live ones only, unless `deleted`), sorted. */
  subjectNames(deleted = false): string[] {
    return [...this.subjects.keys()].filter((s) => this.versionsOf(s, deleted).length > 0).sort();
  }

  /** A subject's versions, oldest first: live ones only, unless `deleted`. */
  versionsOf(subject: string, deleted = false): StoredVersion[] {
    const versions = [...(this.subjects.get(subject)?.values() ?? [])];
    return deleted ? versions : versions.filter((v) => !v.deleted);
  }

  entry(subject: string, version: number): StoredVersion | undefined {
    return this.subjects.get(subject)?.get(version);
  }

  /** The id a schema text already has under any subject, if any. */
  idOf(schema: string): number | undefined {
    return this.idByText.get(schema);
  }

  /** The versions that carry an id, live ones first. */
  carriersOf(id: number): StoredVersion[] {
    const carriers = this.byId.get(id) ?? [];
    return [...carriers.filter((v) => !v.deleted), ...carriers.filter((v) => v.deleted)];
  }

  subjectLevel(subject: string): CompatibilityMode | undefined {
    return this.subjectLevels.get(subject);
  }
}

/** Each subject's versions in ascending order, so iteration is oldest first. */
function sortVersions(
  subjects: Map<string, Map<number, StoredVersion>>,
): Map<string, Map<number, StoredVersion>> {
  for (const [subject, versions] of subjects) {
    subjects.set(subject, new Map([...versions].sort(([a], [b]) => a - b)));
  }
  return subjects;
}
