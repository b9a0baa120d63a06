import {
  defineSource,
  envelopeSchemas,
  Type,
  type ChangeEvent,
  type Position,
  type StreamDeclaration,
} from '@datamesh/core';

/**
 * A deliberately broken source, for proving the conformance suite catches the classic CDC bug:
 * it releases its position as soon as it reads a batch ("auto-acknowledge on receipt") instead of
 * waiting for `acknowledge`. A crash between the read and the transport write loses the batch,
 * because the upstream (a replication slot, a binlog) has already let it go.
 *
 * Otherwise it is well-formed: a counter of items whose upstream log keeps everything after the
 * released position, so only the crash-before-acknowledge check fails.
 */
const config = Type.Object(
  {
    batchSize: Type.Integer({ minimum: 1, default: 5 }),
    items: Type.Integer({ minimum: 1, default: 1000 }),
  },
  { additionalProperties: false },
);

const ITEMS: StreamDeclaration = {
  name: 'items',
  ...envelopeSchemas({
    name: 'fixture.items',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'label', type: 'string' },
    ],
  }),
};

export const eagerAckSource = defineSource({
  name: 'eager-ack',
  version: '0.0.1',
  description: 'Broken on purpose: releases positions on read, not on acknowledge.',
  config,
  streams: () => [ITEMS],
  create(cfg, ctx) {
    let next = 0;
    let released: Position | undefined;
    return {
      async start(from) {
        next = typeof from?.['next'] === 'number' ? from['next'] : 0;
        released = from;
      },
      async read(signal) {
        if (signal.aborted || next >= cfg.items) return undefined;
        const events: { stream: string; event: ChangeEvent }[] = [];
        const ts = Date.now();
        for (; events.length < cfg.batchSize && next < cfg.items; next++) {
          const row = { id: next, label: `item ${next}` };
          events.push({
            stream: 'items',
            event: {
              key: { id: next },
              value: {
                before: null,
                after: row,
                op: 'c',
                ts_ms: ts,
                source: { connector: 'eager-ack', name: ctx.stage, ts_ms: ts, snapshot: 'false' },
              },
            },
          });
        }
        const position = { next };
        // THE BUG: the position is released on receipt, before the runtime made the batch durable.
        released = position;
        return { events, position };
      },
      async acknowledge(position) {
        released = position;
      },
      async releasedPosition() {
        return released;
      },
      async stop() {},
    };
  },
});
