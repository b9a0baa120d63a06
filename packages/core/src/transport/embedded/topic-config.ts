import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopicConfig } from '../transport.js';
import { isErrno, writeFileDurably } from './durable-file.js';

const TOPIC_CONFIG_FILE = 'topic.json';

/** Kafka's rule for topic names, which also keeps them safe as directory names. */
export function validateTopicName(name: string): void {
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(name) || name === '.' || name === '..') {
    throw new Error(`invalid topic name "${name}": use 1 to 249 of [a-zA-Z0-9._-], not "." or ".."`);
  }
}

export function validateTopicConfig(name: string, config: TopicConfig): void {
  const problems: string[] = [];
  if (!Number.isInteger(config.partitions) || config.partitions < 1)
    problems.push('partitions must be an integer >= 1');
  if (config.retentionMs !== undefined && !(config.retentionMs >= 0))
    problems.push('retentionMs must be >= 0');
  if (config.retentionBytes !== undefined && !(config.retentionBytes >= 0))
    problems.push('retentionBytes must be >= 0');
  if (problems.length > 0) throw new Error(`invalid config for topic "${name}": ${problems.join('; ')}`);
}

export function sameTopicConfig(a: TopicConfig, b: TopicConfig): boolean {
  return (
    a.partitions === b.partitions &&
    (a.compacted ?? false) === (b.compacted ?? false) &&
    a.retentionMs === b.retentionMs &&
    a.retentionBytes === b.retentionBytes
  );
}

export async function readTopicConfig(topicDir: string): Promise<TopicConfig | undefined> {
  let text: string;
  try {
    text = await readFile(join(topicDir, TOPIC_CONFIG_FILE), 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || !('partitions' in parsed)) {
    throw new Error(`${join(topicDir, TOPIC_CONFIG_FILE)} is not a topic config`);
  }
  const raw = parsed as Record<string, unknown>;
  const config: { -readonly [K in keyof TopicConfig]: TopicConfig[K] } = {
    partitions: Number(raw['partitions']),
  };
  if (raw['compacted'] === true) config.compacted = true;
  if (typeof raw['retentionMs'] === 'number') config.retentionMs = raw['retentionMs'];
  if (typeof raw['retentionBytes'] === 'number') config.retentionBytes = raw['retentionBytes'];
  return config;
}

export async function writeTopicConfig(topicDir: string, config: TopicConfig): Promise<void> {
  await writeFileDurably(join(topicDir, TOPIC_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}
