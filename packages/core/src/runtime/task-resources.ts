import type { Logger, SchemaAccess } from '../contract/context.js';
import type { AvroRecordSchema } from '../schema/avro.js';
import type { Transport } from '../transport/transport.js';

/**
 * Creates a topic with `partitions` when it is missing. An existing topic keeps its partition count:
 * growing it would move keys to other partitions and break per-key order.
 */
export async function ensureTopicKeepingPartitions(
  transport: Transport,
  topic: string,
  partitions: number,
  logger: Logger,
): Promise<void> {
  const existing = await transport.describeTopic(topic);
  if (!existing) {
    await transport.ensureTopic(topic, { partitions });
    return;
  }
  if (existing.partitions !== partitions) {
    logger.warn(
      { topic, partitions: existing.partitions, configured: partitions },
      'topic keeps its partition count; changing it would reorder events of a key',
    );
  }
}

/**
 * Creates a stream's topic when it is missing: with `partitions`, or, for a topic that repartitions by a key of
 * another topic (`partitionsLike`), with that topic's partition count, so equal keys land in equal numbers.
 */
export async function ensureStreamTopic(
  transport: Transport,
  stream: { readonly topic: string; readonly partitionsLike?: string },
  partitions: number,
  logger: Logger,
): Promise<void> {
  let count = partitions;
  if (stream.partitionsLike !== undefined) {
    await ensureTopicKeepingPartitions(transport, stream.partitionsLike, partitions, logger);
    count = (await transport.describeTopic(stream.partitionsLike))?.partitions ?? partitions;
  }
  await ensureTopicKeepingPartitions(transport, stream.topic, count, logger);
}

/**
 * A topic repartitioned by the key of another (`partitionsLike`) lands equal keys in equal partition numbers only when its keys are
 * equal bytes: written with the same schema id. Refuses to run otherwise, rather than join rows that never meet.
 */
export async function assertKeysFollow(
  schemas: SchemaAccess,
  stream: { readonly topic: string; readonly partitionsLike?: string; readonly keySchema: AvroRecordSchema },
): Promise<void> {
  if (stream.partitionsLike === undefined) return;
  const followed = await schemas.latest(`${stream.partitionsLike}-key`);
  if (!followed) return; // nothing written there yet: its writer registers the same schema
  const own = await schemas.register(`${stream.topic}-key`, stream.keySchema);
  if (own.id === followed.id) return;
  throw new Error(
    `topic ${stream.topic} is partitioned by the key of ${stream.partitionsLike}, but that topic's keys are written ` +
      `with schema id ${followed.id} and this one's with ${own.id}, so equal keys would land in different partitions. ` +
      `The key schema of ${stream.partitionsLike} changed since the pipeline was planned: restart the node to plan it ` +
      `again. If this persists, that topic's writer registers another key schema than its stage declares: run the ` +
      `stage without splitting it (a join: without "partitioned").`,
  );
}

/**
 * Closes each resource in turn even when one fails, so a failing plugin close can never leave a
 * consumer-group member behind. Close errors are logged; the first is returned for the caller to raise.
 */
export async function closeEach(
  logger: Logger,
  resources: readonly (readonly [string, (() => Promise<void>) | undefined])[],
): Promise<unknown> {
  let first: unknown;
  for (const [what, close] of resources) {
    if (!close) continue;
    try {
      await close();
    } catch (error) {
      logger.error({ err: error, resource: what }, 'close failed');
      first ??= error;
    }
  }
  return first;
}
