import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { defineSink, Type, type SinkRecord } from '@datamesh/core';
import { JsonlFile, type LineWithPosition } from './jsonl-file.js';

const config = Type.Object(
  {
    path: Type.String({
      minLength: 1,
      description: 'The JSON Lines file to append to (created with its folder).',
    }),
    format: Type.Union([Type.Literal('envelope'), Type.Literal('row')], {
      default: 'envelope',
      description: 'envelope: the whole change event; row: only the row state (`after`, null for deletes).',
    }),
    fsync: Type.Boolean({ default: true, description: 'fsync on every flush (survives power loss).' }),
  },
  { additionalProperties: false },
);

/**
 * Appends change events to a JSON Lines file, one line per event with its input position. Replays
 * of the same input records (a restart before offsets were committed) are skipped by their input position.
 * Events a source produced twice — an at-least-once replay upstream — arrive at new positions and are
 * written twice.
 */
export const fileSink = defineSink({
  name: 'file',
  version: '0.1.0',
  description: 'Appends change events to a JSON Lines file; redelivered input records are skipped.',
  config,
  async create(cfg, ctx) {
    await mkdir(dirname(cfg.path), { recursive: true });
    const file = await JsonlFile.open(cfg.path);
    const skipped = ctx.metrics.counter(
      'replayed_events_skipped_total',
      'Events skipped because the file already held them.',
    );
    let buffered: LineWithPosition[] = [];
    const newest = new Map<string, number>();
    return {
      async write(records: readonly SinkRecord[]) {
        for (const { event, position } of records) {
          const id = `${position.topic}/${position.partition}`;
          const last = newest.get(id) ?? file.lastOffset(position.topic, position.partition);
          if (position.offset <= last) {
            skipped.inc();
            continue;
          }
          newest.set(id, position.offset);
          buffered.push(
            cfg.format === 'row'
              ? { ...position, key: event.key, row: event.value?.after ?? null }
              : {
                  ...position,
                  key: event.key,
                  op: event.value?.op ?? null,
                  before: event.value?.before ?? null,
                  after: event.value?.after ?? null,
                  source: event.value?.source ?? null,
                  ts_ms: event.value?.ts_ms ?? null,
                },
          );
        }
      },
      async flush() {
        const lines = buffered;
        buffered = [];
        await file.append(lines, cfg.fsync);
      },
      async close() {
        await file.close();
      },
    };
  },
});
