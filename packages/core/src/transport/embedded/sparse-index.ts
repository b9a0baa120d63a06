/**
 * Offset -> file position for one segment, one entry every `intervalBytes` of records, so a seek reads at most
 * that many bytes past the wanted record. Entries are appended in offset order.
 */
export class SparseIndex {
  private offsets: number[] = [];
  private positions: number[] = [];
  private lastIndexedPosition = -Infinity;

  private readonly intervalBytes: number;

  constructor(intervalBytes: number) {
    this.intervalBytes = intervalBytes;
  }

  get size(): number {
    return this.offsets.length;
  }

  /** Called for every record appended or scanned, in order; keeps only every `intervalBytes`-th. */
  add(offset: number, position: number): void {
    if (position - this.lastIndexedPosition < this.intervalBytes) return;
    this.offsets.push(offset);
    this.positions.push(position);
    this.lastIndexedPosition = position;
  }

  /** The position of the last indexed record with an offset <= `offset` (0 when there is none). */
  floorPosition(offset: number): number {
    let lo = 0;
    let hi = this.offsets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid]! <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? 0 : this.positions[found]!;
  }

  /** Drops entries at or after `position` (the log was truncated there). */
  truncate(position: number): void {
    let keep = this.positions.length;
    while (keep > 0 && this.positions[keep - 1]! >= position) keep--;
    this.offsets.length = keep;
    this.positions.length = keep;
    this.lastIndexedPosition = keep > 0 ? this.positions[keep - 1]! : -Infinity;
  }
}
