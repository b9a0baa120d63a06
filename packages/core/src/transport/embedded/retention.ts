import type { PartitionLog } from './partition-log.js';
import type { Segment } from './segment.js';

export interface RetentionPolicy {
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
}

/**
 * Deletes whole closed segments from the start of the log, never the active one (as Kafka does):
 * - by time: while a segment's newest record is older than `now - retentionMs`;
 * - by size: while dropping the oldest segment still leaves at least `retentionBytes` in the partition.
 * Returns the number of segments deleted.
 */
export function applyRetention(log: PartitionLog, policy: RetentionPolicy, now: number): Promise<number> {
  if (policy.retentionMs === undefined && policy.retentionBytes === undefined) return Promise.resolve(0);
  return log.exclusive(async () => {
    const closed = log.closedSegments();
    const doomed: Segment[] = [];
    if (policy.retentionMs !== undefined) {
      const cutoff = now - policy.retentionMs;
      for (const segment of closed) {
        // A closed segment's newest timestamp is known once it has been scanned (lazily, on first need).
        if (!segment.fullyScanned) await segment.scan(segment.size);
        if (segment.maxTimestamp >= cutoff) break;
        doomed.push(segment);
      }
    }
    if (policy.retentionBytes !== undefined) {
      let remaining = log.sizeBytes;
      for (const segment of doomed) remaining -= segment.size;
      for (const segment of closed.slice(doomed.length)) {
        if (remaining - segment.size < policy.retentionBytes) break;
        doomed.push(segment);
        remaining -= segment.size;
      }
    }
    await log.removeSegments(doomed);
    return doomed.length;
  });
}
