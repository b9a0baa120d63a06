import {
  abortableDelay,
  defineSource,
  envelopeSchemas,
  Type,
  type ChangeEvent,
  type Position,
  type SourceBatch,
  type StreamDeclaration,
} from '@datamesh/core';
import { OrderGenerator, toEvent } from './order-generator.js';

const config = Type.Object(
  {
    rate: Type.Number({
      minimum: 0,
      default: 200,
      description: 'Changes per second; 0 generates as fast as the pipeline takes them.',
    }),
    batchSize: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Changes per batch.' }),
    keys: Type.Integer({ minimum: 1, default: 1000, description: 'Distinct order ids.' }),
    seed: Type.Integer({ default: 42, description: 'Same seed, same changes.' }),
    deleteRatio: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.1,
      description: 'Share of changes to existing orders that delete them.',
    }),
    limit: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Stop producing after this many changes (the source then idles).',
      }),
    ),
    tombstones: Type.Boolean({
      default: true,
      description: 'Follow each delete with a tombstone (null value) for compacted topics.',
    }),
  },
  { additionalProperties: false },
);

export const ORDERS_STREAM: StreamDeclaration = {
  name: 'orders',
  description: 'Synthetic orders: created, updated through their statuses, sometimes deleted.',
  ...envelopeSchemas({
    name: 'datagen.orders',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'customer', type: 'string' },
      { name: 'email', type: 'string' },
      { name: 'amount_cents', type: 'long' },
      { name: 'status', type: 'string' },
      { name: 'version', type: 'int' },
    ],
    sourceFields: [{ name: 'seq', type: 'long', default: 0 }],
  }),
};

const IDLE_WAIT_MS = 200;

/**
 * A source of synthetic order changes for demos, tests and load. Deterministic: a position is the
 * number of changes emitted, and resuming from it continues the same sequence.
 */
export const datagenSource = defineSource({
  name: 'datagen',
  version: '0.1.0',
  description: 'Generates a deterministic stream of order changes (create, update, delete).',
  config,
  streams: () => [ORDERS_STREAM],
  create(cfg, ctx) {
    const generator = new OrderGenerator({ seed: cfg.seed, keys: cfg.keys, deleteRatio: cfg.deleteRatio });
    let released: Position | undefined;
    let nextBatchAt = 0;
    return {
      async start(from) {
        const seq = typeof from?.['seq'] === 'number' ? from['seq'] : 0;
        generator.skipTo(seq);
        released = from;
        nextBatchAt = Date.now();
        ctx.logger.debug({ seq }, 'datagen starting');
      },
      async read(signal): Promise<SourceBatch | undefined> {
        const remaining =
          cfg.limit === undefined ? cfg.batchSize : Math.min(cfg.batchSize, cfg.limit - generator.position);
        if (remaining <= 0) {
          await abortableDelay(IDLE_WAIT_MS, signal);
          return undefined;
        }
        if (cfg.rate > 0) {
          const delay = nextBatchAt - Date.now();
          if (delay > 0) await abortableDelay(delay, signal);
          if (signal.aborted) return undefined;
          nextBatchAt = Math.max(nextBatchAt, Date.now() - 1000) + (remaining / cfg.rate) * 1000;
        }
        const events: { stream: string; event: ChangeEvent }[] = [];
        const ts = Date.now();
        for (let i = 0; i < remaining; i++) {
          const change = generator.next();
          const event = toEvent(change, { name: ctx.stage, ts, seq: generator.position });
          events.push({ stream: 'orders', event });
          if (change.op === 'd' && cfg.tombstones)
            events.push({ stream: 'orders', event: { key: change.key, value: null } });
        }
        return { events, position: { seq: generator.position } };
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
