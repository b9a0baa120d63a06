/**
 * Row values as the state store keeps them (JSON): bytes and decimals (Buffers) and big integers would not
 * survive JSON as they are, so they are tagged on the way in and restored on the way out.
 */
type Tagged = { readonly $bytes: string } | { readonly $bigint: string };

export function toStored(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? ({ $bigint: value.toString() } satisfies Tagged) : value;
  }
  if (value instanceof Uint8Array) {
    return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(toStored);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toStored(v);
  return out;
}

export function fromStored(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromStored);
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && typeof object.$bytes === 'string') return Buffer.from(object.$bytes, 'base64');
  if (keys.length === 1 && typeof object.$bigint === 'string') return BigInt(object.$bigint);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) out[k] = fromStored(v);
  return out;
}

/** A stable text for a tuple of column values: equal values give equal text. */
export function tupleText(values: readonly unknown[]): string {
  return JSON.stringify(values.map(toStored));
}
