import type { ConsumedRecord, Headers, ProduceRecord } from '../transport/transport.js';

/** The topic a pipeline's dead letters go to. */
export function deadLetterTopic(pipeline: string): string {
  return `datamesh.dlq.${pipeline}`;
}

/**
 * The topic `mesh dlq replay` writes dead letters back to. Every consumer task of the pipeline reads it
 * besides its inputs and takes the records it dead-lettered itself, so a replay reaches only the task that
 * failed, not other pipelines sharing its input topics.
 */
export function replayTopic(pipeline: string): string {
  return `datamesh.dlq.${pipeline}.replay`;
}

/** Headers a dead letter carries besides the original record's own. */
export const DEAD_LETTER_HEADER = {
  error: 'datamesh.dlq.error',
  errorName: 'datamesh.dlq.error.name',
  stage: 'datamesh.dlq.stage',
  plugin: 'datamesh.dlq.plugin',
  kind: 'datamesh.dlq.kind',
  /** The consumer task that failed, the one a replay goes back to. */
  task: 'datamesh.dlq.task',
  /** Where the event was read the first time (kept through replays). */
  topic: 'datamesh.dlq.topic',
  partition: 'datamesh.dlq.partition',
  offset: 'datamesh.dlq.offset',
  time: 'datamesh.dlq.time',
  /** How many times the event was replayed before this failure. */
  replays: 'datamesh.dlq.replays',
} as const;

/** Longest error message a header keeps: a stack-sized message must not make the record too large. */
const MAX_ERROR_CHARS = 4096;

export interface Failure {
  readonly error: unknown;
  readonly stage: string;
  readonly plugin: string;
  readonly kind: 'processor' | 'sink';
  readonly task: string;
}

/**
 * The dead letter for a consumed record: its key and value bytes as read (so a replay decodes them as the first
 * time), its headers, and where and why it failed. A record that came from the replay topic keeps its first
 * origin and counts one more replay.
 */
export function deadLetterRecord(pipeline: string, record: ConsumedRecord, failure: Failure): ProduceRecord {
  const error = failure.error instanceof Error ? failure.error : new Error(String(failure.error));
  const replayed = record.headers[DEAD_LETTER_HEADER.topic] !== undefined;
  const origin = replayed
    ? {
        [DEAD_LETTER_HEADER.topic]: record.headers[DEAD_LETTER_HEADER.topic]!,
        [DEAD_LETTER_HEADER.partition]: record.headers[DEAD_LETTER_HEADER.partition] ?? '',
        [DEAD_LETTER_HEADER.offset]: record.headers[DEAD_LETTER_HEADER.offset] ?? '',
      }
    : {
        [DEAD_LETTER_HEADER.topic]: record.topic,
        [DEAD_LETTER_HEADER.partition]: String(record.partition),
        [DEAD_LETTER_HEADER.offset]: String(record.offset),
      };
  const replays = replayed ? Number(record.headers[DEAD_LETTER_HEADER.replays] ?? 0) : 0;
  const headers: Record<string, string> = {
    ...withoutDeadLetterHeaders(record.headers),
    ...origin,
    [DEAD_LETTER_HEADER.error]: truncate(error.message || String(error)),
    [DEAD_LETTER_HEADER.errorName]: error.name,
    [DEAD_LETTER_HEADER.stage]: failure.stage,
    [DEAD_LETTER_HEADER.plugin]: failure.plugin,
    [DEAD_LETTER_HEADER.kind]: failure.kind,
    [DEAD_LETTER_HEADER.task]: failure.task,
    [DEAD_LETTER_HEADER.time]: new Date().toISOString(),
    [DEAD_LETTER_HEADER.replays]: String(replays),
  };
  return { topic: deadLetterTopic(pipeline), key: record.key, value: record.value, headers };
}

/**
 * The record `mesh dlq replay` writes for a dead letter: the original bytes and headers, with the origin, the
 * task to go back to and one more replay counted; the failure's own headers are left behind. Given the replay
 * topic's partition count, it goes to the partition number it was first read from (when the topic has it), where
 * a task run once per partition number hands it to the instance holding that partition's state.
 */
export function replayRecord(
  pipeline: string,
  deadLetter: ConsumedRecord,
  replayPartitions?: number,
): ProduceRecord {
  const h = deadLetter.headers;
  const task = h[DEAD_LETTER_HEADER.task];
  if (task === undefined) {
    throw new Error(
      `record ${deadLetter.topic}/${deadLetter.partition}@${deadLetter.offset} is not a dead letter (no ${DEAD_LETTER_HEADER.task} header)`,
    );
  }
  const origin = Number(h[DEAD_LETTER_HEADER.partition] ?? '');
  const partition =
    h[DEAD_LETTER_HEADER.partition] && Number.isInteger(origin) && origin < (replayPartitions ?? 0)
      ? { partition: origin }
      : {};
  return {
    topic: replayTopic(pipeline),
    ...partition,
    key: deadLetter.key,
    value: deadLetter.value,
    headers: {
      ...withoutDeadLetterHeaders(h),
      [DEAD_LETTER_HEADER.task]: task,
      [DEAD_LETTER_HEADER.topic]: h[DEAD_LETTER_HEADER.topic] ?? deadLetter.topic,
      [DEAD_LETTER_HEADER.partition]: h[DEAD_LETTER_HEADER.partition] ?? '',
      [DEAD_LETTER_HEADER.offset]: h[DEAD_LETTER_HEADER.offset] ?? '',
      [DEAD_LETTER_HEADER.replays]: String(Number(h[DEAD_LETTER_HEADER.replays] ?? 0) + 1),
    },
  };
}

/** A replayed record's headers as the event had them before it first failed. */
export function withoutDeadLetterHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('datamesh.dlq.')) out[name] = value;
  }
  return out;
}

function truncate(text: string): string {
  return text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS - 1)}…`;
}
