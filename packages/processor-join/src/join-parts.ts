import { isDeepStrictEqual } from 'node:util';
import {
  avroType,
  defineProcessor,
  Type,
  type ChangeEvent,
  type Envelope,
  type Logger,
  type ProcessorInputSchemas,
  type ProcessorPart,
  type Row,
} from '@datamesh/core';
import type { JoinConfig } from './join-config.js';
import { planJoin } from './join-plan.js';
import { JoinResolve } from './join-resolve.js';
import { LeftRepartition, repartitionedSchema, type RepartitionedChange } from './left-repartition.js';
import { TableJoin } from './table-join.js';

/** What every part of a partitioned join is configured with: the stage's config and its planned inputs. */
interface PartConfig {
  readonly join: JoinConfig;
  readonly left: ProcessorInputSchemas;
  readonly right: ProcessorInputSchemas;
}

// Parts are configured by `expand`, never by a pipeline file: their config is checked there.
const partConfig = Type.Unsafe<PartConfig>({ type: 'object' });

/**
 * A table join split by the join key, so that it runs once per partition, spread over the nodes:
 * 1. `by-join-key` repartitions the left input by the join key, into a topic with the right input's partition count
 *    (each left change numbered with a version; see `LeftRepartition`);
 * 2. `matched` joins that topic with the right input, partition by partition, into versioned images of output rows;
 * 3. `resolved` orders each output row's images by version into the stage's change stream.
 */
export function expandJoin(
  inputs: readonly ProcessorInputSchemas[],
  config: JoinConfig,
): readonly ProcessorPart[] | undefined {
  if (!config.partitioned) return undefined;
  const [left, right] = inputs as [ProcessorInputSchemas, ProcessorInputSchemas];
  const parts: PartConfig = { join: config, left, right };
  return [
    { name: 'by-join-key', plugin: joinByKey, config: parts, inputs: [0], partitionsLike: 1 },
    { name: 'matched', plugin: joinMatched, config: parts, inputs: ['by-join-key', 1] },
    { name: 'resolved', plugin: joinResolved, config: parts, inputs: ['matched'] },
  ];
}

const version = '0.1.0';

const joinByKey = defineProcessor({
  name: 'join-by-key',
  version,
  description: 'Part of a partitioned join: repartitions the left input by the join key.',
  config: partConfig,
  stateful: true,
  plan(_inputs, config) {
    const { layout } = planJoin([config.left, config.right], config.join);
    return {
      keySchema: config.right.keySchema,
      valueSchema: repartitionedSchema(layout, config.left.valueSchema),
      lineage: [],
      consumes: [],
      perPartition: true,
    };
  },
  create(config, ctx) {
    const { layout } = planJoin([config.left, config.right], config.join);
    const repartition = new LeftRepartition(layout, ctx.state, avroType(config.left.keySchema));
    return {
      process(events) {
        if (events.some((e) => e.value?.op === 't')) warnTruncate(ctx.logger, 'left');
        return repartition.process(events);
      },
    };
  },
});

const joinMatched = defineProcessor({
  name: 'join-matched',
  version,
  description: 'Part of a partitioned join: joins the repartitioned left rows with the right input.',
  config: partConfig,
  stateful: true,
  plan(_inputs, config) {
    return { ...planJoin([config.left, config.right], config.join).plan, perPartition: true };
  },
  create(config, ctx) {
    const { layout } = planJoin([config.left, config.right], config.join);
    const repartitioned = ctx.inputs?.[0]?.name;
    if (!repartitioned) throw new Error('join-matched needs its planned inputs in ctx.inputs');
    const leftKeyType = avroType(config.left.keySchema);
    const rightSourceFits = isDeepStrictEqual(sourceFields(config.left), sourceFields(config.right));
    const join = new TableJoin(layout, ctx.state, rightSourceFits, true);
    return {
      async process(events, input) {
        if (input !== repartitioned) {
          if (events.some((e) => e.value?.op === 't')) warnTruncate(ctx.logger, 'right');
          return join.process(events, input);
        }
        const out: ChangeEvent[] = [];
        for (const event of events) {
          const record = event.value as unknown as RepartitionedChange;
          const key = record.key === null ? null : (leftKeyType.fromBuffer(record.key) as Row);
          await join.repartitioned(key, record.version, record.change as Envelope | null, record.leave, out);
        }
        await join.saveSequence();
        return out;
      },
    };
  },
});

const joinResolved = defineProcessor({
  name: 'join-resolved',
  version,
  description: 'Part of a partitioned join: orders the changes of each output row.',
  config: partConfig,
  stateful: true,
  plan(_inputs, config) {
    return { ...planJoin([config.left, config.right], config.join).plan, perPartition: true };
  },
  create(_config, ctx) {
    const resolve = new JoinResolve(ctx.state);
    return { process: (events) => resolve.process(events) };
  },
});

/** A truncate has no key: it reaches one partition, whose rows alone it deletes (see the README's limits). */
function warnTruncate(logger: Logger, side: 'left' | 'right'): void {
  logger.warn(
    { side },
    `a truncate of the ${side} input reached one partition of a partitioned join: only the rows of that partition are deleted; ` +
      'for tables that are truncated, run the join without "partitioned"',
  );
}

/** The fields of an input's `source` block, without the record's name (one per table). */
export function sourceFields(input: ProcessorInputSchemas): unknown {
  const source = input.valueSchema.fields.find((f) => f.name === 'source')?.type as
    { fields?: unknown } | undefined;
  return source?.fields;
}
