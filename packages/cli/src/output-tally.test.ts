import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OutputTally } from './output-tally.js';

const dir = await mkdtemp(join(tmpdir(), 'datamesh-tally-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const line = (op: string | null) =>
  `${JSON.stringify({ topic: 't', partition: 0, offset: 0, key: {}, op })}\n`;

describe('OutputTally', () => {
  it('counts what was appended since it started, by operation, up to the last complete line', async () => {
    const file = join(dir, 'out.jsonl');
    await writeFile(file, line('r') + line('c'));
    const tally = new OutputTally(file);
    await tally.start();
    await tally.update();
    expect(tally.snapshot + tally.live).toBe(0);

    await appendFile(
      file,
      line('r') + line('r') + line('u') + line('d') + line(null) + '{"topic":"t","op":"c"',
    );
    await tally.update();
    expect([tally.snapshot, tally.live]).toEqual([2, 2]);

    await appendFile(file, `,"partition":0}\n${line('c')}`);
    await tally.update();
    expect([tally.snapshot, tally.live]).toEqual([2, 4]);
    expect(Object.fromEntries(tally.ops)).toEqual({ r: 2, u: 1, d: 1, c: 2 });
  });

  it('counts nothing while the file does not exist', async () => {
    const tally = new OutputTally(join(dir, 'missing.jsonl'));
    await tally.start();
    await tally.update();
    expect(tally.ops.size).toBe(0);
  });
});
