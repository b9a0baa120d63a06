import { createRequire } from 'node:module';

// kafkajs 2.2.4 (its last release) groups a produce request's messages by partition with
// `[...current, message]` for every message: quadratic in the messages per partition. A source's batch of 4,096
// changes to one partition copied ~8 million array slots per request, 10 % of a node's CPU under CDC load
// (tools/bench/postgres-cdc.mjs, profiled). kafkajs binds the function when its producer module loads, so the
// linear version is put into the module cache first: this module must be imported before kafkajs (index.ts
// imports it first).

interface GroupArgs<M> {
  readonly topic: string;
  readonly partitionMetadata: readonly unknown[];
  readonly messages: readonly M[];
  readonly partitioner: (args: {
    topic: string;
    partitionMetadata: readonly unknown[];
    message: M;
  }) => number;
}

/** The same result as kafkajs's groupMessagesPerPartition: messages by partition, in their order. */
export function groupMessagesPerPartition<M>({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: GroupArgs<M>): Record<number, M[]> {
  const grouped: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return grouped;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (grouped[partition] ??= []).push(message);
  }
  return grouped;
}

const require = createRequire(import.meta.url);
const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
if (require.cache[path] === undefined) {
  const original = require(path) as unknown;
  if (typeof original !== 'function') {
    throw new Error(
      'kafkajs changed: producer/groupMessagesPerPartition is gone; revisit kafkajs-linear-grouping.ts',
    );
  }
  require.cache[path]!.exports = groupMessagesPerPartition;
}

/** True when kafkajs's producer uses the linear grouping (kafkajs was not loaded before this module). */
export function linearGroupingInstalled(): boolean {
  return require(path) === groupMessagesPerPartition;
}
