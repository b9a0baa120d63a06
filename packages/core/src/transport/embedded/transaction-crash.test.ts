import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedTransport } from './embedded-transport.js';
import { readAll } from './__fixtures__/read-all.js';
import { runChild } from './__fixtures__/child-lines.js';

const child = fileURLToPath(new URL('./__fixtures__/copy-until-killed.mjs', import.meta.url));
const INPUT = 3000;

/**
 * Runs the copier; it is SIGKILLed right after its `commits`-th commit, or kills itself at `crashAt` (see the
 * fixture). Resolves whether it finished the copy, and what opening the log had to complete.
 */
async function copyUntilKilled(
  dir: string,
  commits: number,
  crashAt: string,
): Promise<{ done: boolean; recovered: string }> {
  let recovered = '';
  let done = false;
  await runChild(child, [dir, crashAt], (line, proc) => {
    if (line.startsWith('ready ')) recovered = line.slice('ready '.length);
    if (line === 'done') done = true;
    // Killed while it goes on: in its next poll, send, journal write, append or offset store.
    if (line === `committed ${commits}`) proc.kill('SIGKILL');
  });
  return { done, recovered };
}

describe('embedded transactions after kill -9', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datamesh-tx-crash-'));
    const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
    await transport.ensureTopic('in', { partitions: 3 });
    await transport.ensureTopic('out', { partitions: 2 });
    await transport.ensureTopic('tallies', { partitions: 1 });
    const producer = transport.producer();
    await producer.send(
      Array.from({ length: INPUT }, (_, i) => ({
        topic: 'in',
        key: Buffer.from(`key-${i % 101}`),
        value: Buffer.from(`value-${i}`),
      })),
    );
    await producer.close();
    await transport.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'copies every record exactly once, its tallies and offsets committed with it, across repeated kills',
    { timeout: 120_000 },
    async () => {
      let kills = 0;
      const recoveries: string[] = [];
      for (let round = 0; ; round++) {
        expect(round, 'the copier should finish within 60 restarts').toBeLessThan(60);
        // Each transaction appends to 3 partitions (out/0, out/1, tallies/0) and stores one group's offsets.
        const n = 4 + ((round * 7) % 11);
        const modes = ['none', `append:${3 * n + 2}`, `appended:${3 * n + 1}`, `offsets:${n}`];
        const crashAt = modes[round % modes.length]!;
        const { done, recovered } = await copyUntilKilled(dir, crashAt === 'none' ? n : Infinity, crashAt);
        if (recovered !== 'null') recoveries.push(recovered);
        if (done) break;
        kills++;
      }
      expect(kills).toBeGreaterThan(3);
      // Kills in the middle of commits left journals for the next run to complete.
      expect(recoveries.length).toBeGreaterThan(0);

      const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
      try {
        const copied = (await readAll(transport, 'out')).map((r) => r.value!.toString());
        expect(copied).toHaveLength(INPUT);
        expect(new Set(copied)).toEqual(new Set(Array.from({ length: INPUT }, (_, i) => `value-${i}`)));
        // Every transaction's tally is there exactly when its records are.
        const tallied = (await readAll(transport, 'tallies')).reduce(
          (n, r) => n + Number(r.value!.toString()),
          0,
        );
        expect(tallied).toBe(INPUT);
      } finally {
        await transport.close();
      }
      console.log(
        `${kills} kills; ${recoveries.length} opened with a transaction to complete: ${recoveries.join(' ')}`,
      );
    },
  );
});
