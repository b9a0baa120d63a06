import { defineProcessor, Type } from '@datamesh/core';

/**
 * Passes datagen's changes through, but refuses those whose `source.seq` is a multiple of `refuseEvery`
 * (0 refuses none): a plain error, so each refused change becomes a dead letter. Tombstones pass.
 */
export const pickyProcessor = defineProcessor({
  name: 'picky',
  version: '1.0.0',
  description: 'Refuses every n-th change (test fixture for dead letters).',
  config: Type.Object(
    { refuseEvery: Type.Integer({ minimum: 0, default: 0, description: '0 refuses none.' }) },
    { additionalProperties: false },
  ),
  plan: (inputs) => ({ keySchema: inputs[0].keySchema, valueSchema: inputs[0].valueSchema, lineage: [] }),
  create(config) {
    return {
      process(events) {
        for (const event of events) {
          const seq = event.value?.source?.seq;
          if (config.refuseEvery > 0 && typeof seq === 'number' && seq % config.refuseEvery === 0)
            throw new Error(`change ${seq} refused: amount check failed`);
        }
        return events;
      },
    };
  },
});
