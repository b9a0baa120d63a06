import { isDeepStrictEqual } from 'node:util';
import type { ChangeEvent, Row, SourceInfo, StateStore } from '@datamesh/core';
import { fromStored, toStored, tupleText } from './stored-value.js';
import { emit, JOIN_SEQUENCE_HEADER, JOIN_VERSION_HEADER } from './table-join.js';

/** An output row as the resolve part keeps it: the version of its last image, and the row that image left. */
interface Resolved {
  readonly v: number;
  /** The image's number among its version's (see `JOIN_SEQUENCE_HEADER`). */
  readonly s: number;
  readonly row: unknown;
  readonly source: unknown;
}

const RESOLVED = 'V\u0000';

/**
 * The last part of a partitioned join: turns the match part's versioned images of output rows into the join's
 * change stream. A left row whose join key changed is joined in a new partition while its old one may still emit
 * images of it (a right change it saw first), in no set order with the new ones: an image older than the last one
 * taken is dropped. Images of one version come from one partition, numbered in order: one numbered lower than the
 * last taken (a dead letter replayed late) is dropped too, and so is the same image twice.
 *
 * State: per left key, the last version taken and the output row it left (the `before` of the next change). A
 * deleted row keeps its version, so that a late image cannot bring it back.
 */
export class JoinResolve {
  private readonly state: StateStore;

  constructor(state: StateStore) {
    this.state = state;
  }

  async process(events: readonly ChangeEvent[]): Promise<ChangeEvent[]> {
    const out: ChangeEvent[] = [];
    for (const event of events) {
      const version = numberHeader(event, JOIN_VERSION_HEADER);
      const sequence = numberHeader(event, JOIN_SEQUENCE_HEADER);
      const keyText = tupleText([event.key]);
      const stored = this.state.get<Resolved>(RESOLVED + keyText);
      if (stored && (version < stored.v || (version === stored.v && sequence <= stored.s))) continue;
      const before = stored?.row ? (fromStored(stored.row) as Row) : null;
      const after = event.value?.after ?? null;
      // A tombstone image (of a left tombstone) carries no source: the row's last one stands in.
      const source =
        event.value?.source ?? (stored?.source ? (fromStored(stored.source) as SourceInfo) : null);
      if (source && !isDeepStrictEqual(before, after)) {
        const ts_ms = event.value?.ts_ms ?? Date.now();
        emit(out, event.key, before, after, source, ts_ms, event.value?.op === 'r' ? 'r' : 'c');
      }
      await this.state.put(RESOLVED + keyText, {
        v: version,
        s: sequence,
        row: after && toStored(after),
        source: toStored(source),
      } satisfies Resolved);
    }
    return out;
  }
}

function numberHeader(event: ChangeEvent, name: string): number {
  const header = event.headers?.[name];
  const value = Number(header);
  if (header === undefined || !Number.isSafeInteger(value)) {
    throw new Error(`join image carries no number in header ${name} (${String(header)})`);
  }
  return value;
}
