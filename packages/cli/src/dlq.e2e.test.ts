import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyse, readLines } from './__fixtures__/changes-file.js';
import { eventually, isolatedHome, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';

/** A processor plugin that refuses every n-th change (`refuseEvery` in its config). */
const PICKY = fileURLToPath(new URL('./__fixtures__/picky-processor', import.meta.url));
const LIMIT = 200;

let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-dlq-e2e-'));
});

afterAll(async () => {
  await remove();
});

/** Errors unwrapped: oclif wraps them at 80 columns when stderr is not a terminal. */
const wide = () => ({ ...env, OCLIF_COLUMNS: '1000' });

interface PrintedDeadLetter {
  partition: number;
  offset: number;
  time: string;
  stage: string;
  plugin: string;
  kind: string;
  task: string;
  error: string;
  origin: { topic: string; partition: number; offset: number };
  replays: number;
  key?: { id: number };
  value?: { op: string; source: { seq: number } };
  decodeError?: string;
}

const jsonLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PrintedDeadLetter);

async function setup(name: string) {
  const out = join(home, `${name}.jsonl`);
  const pipeline = join(home, `${name}.yaml`);
  const writePipeline = (refuseEvery: number) =>
    writeFile(
      pipeline,
      `apiVersion: datamesh/v1\nkind: Pipeline\nname: ${name}\n` +
        `sources:\n  - { name: orders, plugin: datagen, config: { rate: 0, limit: ${LIMIT}, batchSize: 50 } }\n` +
        `processors:\n  - { name: check, plugin: picky, inputs: [orders], config: { refuseEvery: ${refuseEvery} } }\n` +
        `sinks:\n  - { name: out, plugin: file, inputs: [check], config: { path: ${out} } }\n`,
    );
  await writePipeline(10);
  const config = join(home, `${name}-node.yaml`);
  await writeFile(
    config,
    `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, name, 'data')}\nhttp: { port: 0 }\n` +
      `tasks: { flushIntervalMs: 100 }\npipelines: [${pipeline}]\n`,
  );
  const start = async () => {
    const node = new MeshNodeProcess(['--config', config, '--plugin-dir', PICKY], env);
    await node.url();
    return node;
  };
  const stop = async (node: MeshNodeProcess) => {
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
  };
  return { out, config, writePipeline, start, stop };
}

const refused = Array.from({ length: LIMIT / 10 }, (_, i) => (i + 1) * 10);

describe('mesh dlq', () => {
  it('tail shows what a processor refused; after the fix, replay delivers exactly those, and a second replay nothing', async () => {
    const { out, config, writePipeline, start, stop } = await setup('dlq');
    const dlq = (...args: string[]) => mesh(['dlq', ...args, '--config', config], wide());

    const node = await start();
    try {
      await eventually(async () =>
        analyse(await readLines(out)).distinct.size >= LIMIT - refused.length ? true : undefined,
      );
      // Read-only beside the running node.
      const tail = await eventually(() => {
        const result = dlq('tail', 'dlq');
        return jsonLines(result.stdout).length >= refused.length ? result : undefined;
      });
      expect(tail.status).toBe(0);
      const letters = jsonLines(tail.stdout);
      expect(letters.map((l) => l.value?.source.seq).sort((a, b) => a! - b!)).toEqual(refused);
      expect(letters.map((l) => l.offset)).toEqual(refused.map((_, i) => i));
      for (const l of letters) {
        expect(l).toMatchObject({
          partition: 0,
          stage: 'check',
          plugin: 'picky',
          kind: 'processor',
          task: 'dlq.out',
          error: `change ${l.value!.source.seq} refused: amount check failed`,
          origin: { topic: 'orders.orders', partition: expect.any(Number), offset: expect.any(Number) },
          replays: 0,
          key: { id: expect.any(Number) },
        });
        expect(Date.parse(l.time)).toBeGreaterThan(0);
        expect(l.decodeError).toBeUndefined();
      }
      expect(tail.stderr).toContain(
        `${refused.length} dead letters (check: ${refused.length}) in datamesh.dlq.dlq`,
      );

      const json = dlq('tail', 'dlq', '--json', '--limit', '5');
      expect(json.status).toBe(0);
      expect((JSON.parse(json.stdout) as PrintedDeadLetter[]).map((l) => l.offset)).toEqual([0, 1, 2, 3, 4]);
      const none = dlq('tail', 'dlq', '--stage', 'orders');
      expect(none.stdout).toBe('');
      expect(none.stderr).toContain('0 dead letters of stage orders in datamesh.dlq.dlq');

      // The embedded log has one writer: replay says to stop the node; a dry run reads beside it.
      const held = dlq('replay', 'dlq');
      expect(held.status).toBe(2);
      expect(held.stderr).toMatch(/a node \(pid \d+\) is running on the embedded log in .*: stop the node/);
      const dry = dlq('replay', 'dlq', '--dry-run');
      expect(dry.status).toBe(0);
      expect(
        dry.stdout.match(
          /^would replay offset \d+: processor check \(picky\) failed on orders\.orders\/\d+@\d+: change \d+ refused/gm,
        ),
      ).toHaveLength(refused.length);
      expect(dry.stdout).toContain(
        `would replay ${refused.length} dead letters (check: ${refused.length}) of pipeline "dlq" (dry run: nothing written)`,
      );
    } finally {
      await stop(node);
    }

    // The fix: a new version of the pipeline file, with the processor's config changed.
    await writePipeline(0);
    // In two runs: the second goes on where the first stopped.
    const some = dlq('replay', 'dlq', '--limit', '7');
    expect(some.status).toBe(0);
    expect(some.stdout).toContain(
      'replayed 7 dead letters (check: 7) to datamesh.dlq.dlq.replay; start the node',
    );
    const rest = dlq('replay', 'dlq');
    expect(rest.status).toBe(0);
    expect(rest.stdout).toContain(
      `replayed ${refused.length - 7} dead letters (check: ${refused.length - 7})`,
    );
    const again = dlq('replay', 'dlq');
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(
      'nothing to replay: every dead letter of pipeline "dlq" was replayed before',
    );
    const replayJson = dlq('replay', 'dlq', '--json');
    expect(JSON.parse(replayJson.stdout)).toMatchObject({ replayed: 0, progressMoved: false });

    const fixed = await start();
    try {
      await eventually(async () => (analyse(await readLines(out)).distinct.size >= LIMIT ? true : undefined));
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await stop(fixed);
    }
    const lines = await readLines(out);
    const result = analyse(lines);
    expect(result.distinct).toEqual(new Set(Array.from({ length: LIMIT }, (_, i) => i + 1)));
    expect(result.duplicates).toBe(0);
    // The replayed changes came last, after newer changes of their keys.
    const last = lines.filter((l) => l.source !== null).slice(-refused.length);
    expect(last.map((l) => l.source!.seq).sort((a, b) => a - b)).toEqual(refused);

    // The dead letters stay (nothing failed again); --all would replay them once more.
    const after = dlq('tail', 'dlq');
    expect(jsonLines(after.stdout)).toHaveLength(refused.length);
    const all = dlq('replay', 'dlq', '--all', '--dry-run', '--offset', '3');
    expect(all.status).toBe(2);
    const allDry = dlq('replay', 'dlq', '--all', '--dry-run', '--limit', '7');
    expect(allDry.stdout).toContain('would replay 7 dead letters (check: 7)');
    const one = dlq('replay', 'dlq', '--offset', '3', '--offset', '99', '--dry-run');
    expect(one.status).toBe(2);
    expect(one.stderr).toContain('no dead letter at offset 99 of datamesh.dlq.dlq');
  }, 120_000);

  it('names the pipelines that have dead letters for an unknown one, exit code 2', async () => {
    const { config, start, stop } = await setup('known');
    const node = await start();
    await stop(node);
    for (const command of ['tail', 'replay']) {
      const result = mesh(['dlq', command, 'unknown', '--config', config], wide());
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(
        'no dead-letter topic datamesh.dlq.unknown on the embedded log in ' +
          `${join(home, 'known', 'data')}: pipeline "unknown" has not run there`,
      );
      expect(result.stderr).toContain('Pipelines with dead-letter topics: known.');
    }
  });

  it('says what to fix when there is no log yet or Kafka cannot be reached', async () => {
    const empty = join(home, 'empty-node.yaml');
    await writeFile(empty, `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, 'nothing')}\n`);
    const noLog = mesh(['dlq', 'tail', 'p', '--config', empty], wide());
    expect(noLog.status).toBe(2);
    expect(noLog.stderr).toContain(
      `the data dir ${join(home, 'nothing')} (dataDir in ${empty}) has no embedded log`,
    );

    const kafka = join(home, 'kafka-node.yaml');
    await writeFile(
      kafka,
      'apiVersion: datamesh/v1\nkind: Node\ntransport:\n  kind: kafka\n  kafka: { brokers: ["127.0.0.1:1"], retries: 0, connectionTimeoutMs: 500 }\n',
    );
    for (const command of ['tail', 'replay']) {
      const result = mesh(['dlq', command, 'p', '--config', kafka], wide());
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('cannot reach Kafka at 127.0.0.1:1');
    }
  });

  it('lists the commands and shows their help with examples', () => {
    const root = mesh(['--help'], env);
    expect(root.stdout).toMatch(/^ {2}dlq replay /m);
    expect(root.stdout).toMatch(/^ {2}dlq tail /m);
    for (const command of ['tail', 'replay']) {
      const help = mesh(['dlq', command, '--help'], env);
      expect(help.status).toBe(0);
      expect(help.stdout).toContain(`$ mesh dlq ${command} orders --config node.yaml`);
    }
  });
});
