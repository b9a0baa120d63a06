/**
 * Kafka's default partitioning, so a key lands on the same partition number here as it would on Kafka
 * (`org.apache.kafka.common.utils.Utils.murmur2` and `toPositive(murmur2(key)) % numPartitions`).
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 hash of the bytes, as the signed 32-bit int the Java client returns. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24) | 0;
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // The 1 to 3 trailing bytes (Java folds them in with a falling-through switch).
  const tail = length & ~3;
  const rest = length % 4;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which differs for negative numbers). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for a non-null key. */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  return toPositive(murmur2(key)) % numPartitions;
}

/**
 * Key-hash partitioning for keyed records and round-robin per topic for records without a key
 * (Kafka's `RoundRobinPartitioner` behaviour for null keys).
 */
export class DefaultPartitioner {
  private readonly counters = new Map<string, number>();

  partition(topic: string, key: Uint8Array | null, numPartitions: number): number {
    if (key !== null) return partitionForKey(key, numPartitions);
    const next = this.counters.get(topic) ?? 0;
    this.counters.set(topic, (next + 1) % 0x80000000);
    return next % numPartitions;
  }
}
