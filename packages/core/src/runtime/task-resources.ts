import type { Logger } from '../contract/context.js';
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
