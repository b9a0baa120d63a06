import { isDeepStrictEqual } from 'node:util';
import { defineProcessor, type ProcessorInputSchemas } from '@datamesh/core';
import { joinConfig } from './join-config.js';
import { planJoin } from './join-plan.js';
import { TableJoin } from './table-join.js';
import { WindowJoin } from './window-join.js';
import { expandJoin, sourceFields } from './join-parts.js';

/**
 * Joins a stream of left rows (orders) with a table of right rows looked up by key (customers), inner or
 * left, as a materialised view: changes on either side, updates and deletes included, keep every output row
 * equal to the SQL join of the current rows. State lives in the stage's store (local, backed by a changelog
 * topic), so a restarted or moved task rebuilds it and goes on with the same results.
 */
export const joinProcessor = defineProcessor({
  name: 'join',
  version: '0.1.0',
  description:
    'Joins a change stream with a table (by its key), inner or left, updates and deletes on both sides.',
  config: joinConfig,
  stateful: true,
  plan(inputs, config) {
    return planJoin(inputs, config).plan;
  },
  expand: expandJoin,
  create(config, ctx) {
    if (!ctx.inputs) {
      throw new Error(
        'join needs its planned inputs in ctx.inputs (a runtime implementing contract 1.1 or later)',
      );
    }
    const { layout } = planJoin(ctx.inputs, config);
    const [left, right] = ctx.inputs as [ProcessorInputSchemas, ProcessorInputSchemas];
    const rightSourceFits = isDeepStrictEqual(sourceFields(left), sourceFields(right));
    if (layout.window) {
      const late = ctx.metrics.counter(
        'late_changes_total',
        'Changes dropped because they arrived after their window closed (and its grace).',
      );
      const join = new WindowJoin(layout, ctx.state, rightSourceFits, () => late.inc());
      return { process: (events, input) => join.process(events, input) };
    }
    const join = new TableJoin(layout, ctx.state, rightSourceFits);
    return { process: (events, input) => join.process(events, input) };
  },
});
