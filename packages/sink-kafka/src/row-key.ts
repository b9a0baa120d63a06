import type { ChangeEvent, Row } from '@datamesh/core';

/** An event whose configured key fields cannot be found: the runtime sends it to the dead-letter topic. */
export class MissingKeyFieldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingKeyFieldError';
  }
}

/**
 * The key made of `fields` for an event: from `after` for creates, updates and snapshot reads; for deletes and
 * tombstones from the event's key (fields that are key columns) or else the `before` image. A truncate has no
 * row and keeps a null key.
 *
 * A delete's `before` carries only the key columns unless the source captures full row images (Postgres
 * `REPLICA IDENTITY FULL`), the other columns being null: a null taken from `before` is therefore refused as
 * missing, since a tombstone under a wrong key would leave the real key's row in a compacted topic forever.
 */
export function rowKey(event: ChangeEvent, fields: readonly string[]): Row | null {
  const value = event.value;
  if (value?.op === 't') return null;
  const key: Row = {};
  if (value && value.op !== 'd') {
    const after = value.after;
    for (const field of fields) {
      const found = after?.[field];
      if (found === undefined) {
        throw new MissingKeyFieldError(
          `key field "${field}" is missing from the "${value.op}" event's row (after)`,
        );
      }
      key[field] = found;
    }
    return key;
  }
  const before = value?.before ?? null;
  for (const field of fields) {
    if (event.key !== null && Object.hasOwn(event.key, field)) {
      key[field] = event.key[field];
      continue;
    }
    const found = before?.[field];
    if (found === undefined || found === null) {
      throw new MissingKeyFieldError(
        value
          ? `key field "${field}" is neither in the delete's key nor in its before image (${found === null ? 'null: the source did not capture it' : 'absent'}); key on primary-key columns, or capture full before images (REPLICA IDENTITY FULL)`
          : `key field "${field}" is not in the tombstone's key; key on key columns, or leave tombstones out upstream`,
      );
    }
    key[field] = found;
  }
  return key;
}
