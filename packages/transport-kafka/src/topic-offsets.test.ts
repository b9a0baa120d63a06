import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { fetchTopicOffsets } from './topic-offsets.js';

const offsets = [{ partition: 0, offset: '5', high: '5', low: '0' }];

/** An admin whose fetchTopicOffsets answers with each of `answers` in turn (an Error is thrown). */
function fakeAdmin(answers: unknown[], log: string[], name: string): Admin {
  return {
    connect: async () => void log.push(`${name} connect`),
    disconnect: async () => void log.push(`${name} disconnect`),
    fetchTopicOffsets: async () => {
      const answer = answers.shift();
      log.push(`${name} fetch`);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as Admin;
}

const kafkaError = (type: string) => Object.assign(new Error(type), { type });

describe('fetchTopicOffsets', () => {
  it('asks again through a new admin client when the shared one names a stale leader', async () => {
    const log: string[] = [];
    const shared = fakeAdmin([kafkaError('NOT_LEADER_FOR_PARTITION')], log, 'shared');
    const result = await fetchTopicOffsets(shared, 't', () => fakeAdmin([offsets], log, 'fresh'));
    expect(result).toEqual(offsets);
    expect(log).toEqual(['shared fetch', 'fresh connect', 'fresh fetch', 'fresh disconnect']);
  });

  it("retries kafkajs's TypeError on a topic its metadata lacks, with the same client", async () => {
    const log: string[] = [];
    const shared = fakeAdmin(
      [new TypeError("Cannot destructure property 'partitions'"), offsets],
      log,
      'shared',
    );
    expect(await fetchTopicOffsets(shared, 't', () => fakeAdmin([], log, 'fresh'))).toEqual(offsets);
    expect(log).toEqual(['shared fetch', 'shared fetch']);
  });

  it('passes other errors on at once, and gives up after its attempts', async () => {
    const log: string[] = [];
    const unknown = fakeAdmin([kafkaError('UNKNOWN_TOPIC_OR_PARTITION')], log, 'shared');
    await expect(fetchTopicOffsets(unknown, 't', () => fakeAdmin([], log, 'fresh'))).rejects.toThrow(
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
    const stale = () => fakeAdmin([kafkaError('LEADER_NOT_AVAILABLE')], [], 'x');
    await expect(fetchTopicOffsets(stale(), 't', stale, 3)).rejects.toThrow('LEADER_NOT_AVAILABLE');
  });
});
