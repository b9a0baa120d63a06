import type { ChangeEvent, Operation, Row } from '@datamesh/core';

const CUSTOMERS = [
  'ada',
  'grace',
  'edsger',
  'barbara',
  'donald',
  'frances',
  'john',
  'margaret',
  'alan',
  'radia',
];
const STATUSES = ['new', 'paid', 'packed', 'shipped', 'delivered'];

/** A small, fast deterministic PRNG (mulberry32): the same seed and step give the same value. */
function random(seed: number, step: number, salt: number): number {
  let t = (seed ^ Math.imul(step, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b)) >>> 0;
  t = (t + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

export interface GeneratorOptions {
  readonly seed: number;
  readonly keys: number;
  readonly deleteRatio: number;
}

export interface GeneratedChange {
  readonly op: Exclude<Operation, 't' | 'r'>;
  readonly key: { id: number };
  readonly before: Row | null;
  readonly after: Row | null;
}

/**
 * Generates order changes deterministically: change number n is a function of the seed and the
 * changes before it, so a restart from position n continues with exactly the changes a crash-free
 * run would have produced.
 */
export class OrderGenerator {
  private readonly options: GeneratorOptions;
  private readonly versions = new Map<number, number>();
  private step = 0;

  constructor(options: GeneratorOptions) {
    this.options = options;
  }

  /** How many changes were generated. */
  get position(): number {
    return this.step;
  }

  /** Fast-forwards to `step` (regenerating the row versions on the way, without allocating events). */
  skipTo(step: number): void {
    while (this.step < step) this.next();
  }

  next(): GeneratedChange {
    const n = this.step++;
    const { seed, keys, deleteRatio } = this.options;
    const id = 1 + Math.floor(random(seed, n, 1) * keys);
    const version = this.versions.get(id);
    if (version === undefined) {
      this.versions.set(id, 0);
      return { op: 'c', key: { id }, before: null, after: this.row(id, 0) };
    }
    if (random(seed, n, 2) < deleteRatio) {
      this.versions.delete(id);
      return { op: 'd', key: { id }, before: this.row(id, version), after: null };
    }
    this.versions.set(id, version + 1);
    return { op: 'u', key: { id }, before: this.row(id, version), after: this.row(id, version + 1) };
  }

  /** The row of order `id` at `version`; a pure function of the seed. */
  row(id: number, version: number): Row {
    const { seed } = this.options;
    const customer = CUSTOMERS[Math.floor(random(seed, id, 3) * CUSTOMERS.length)]!;
    return {
      id,
      customer,
      email: `${customer}.${id}@example.com`,
      amount_cents: 100 + Math.floor(random(seed, id * 31 + version, 4) * 100_000),
      status: STATUSES[Math.min(version, STATUSES.length - 1)]!,
      version,
    };
  }
}

export function toEvent(
  change: GeneratedChange,
  source: { name: string; ts: number; seq: number },
): ChangeEvent {
  return {
    key: change.key,
    value: {
      before: change.before,
      after: change.after,
      op: change.op,
      ts_ms: Date.now(),
      source: {
        connector: 'datagen',
        name: source.name,
        ts_ms: source.ts,
        snapshot: 'false',
        db: null,
        schema: null,
        table: 'orders',
        seq: source.seq,
      },
    },
  };
}
