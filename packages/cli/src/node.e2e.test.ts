import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyse, readLines } from './__fixtures__/changes-file.js';
import { isolatedHome, CLI_BIN, eventually, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';

let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-node-e2e-'));
});

afterAll(async () => {
  await remove();
});

async function nodeSetup(name: string, limit: number, rate: number) {
  const dir = join(home, name);
  const out = join(dir, 'out.jsonl');
  const pipeline = join(home, `${name}.yaml`);
  await writeFile(
    pipeline,
    `apiVersion: datamesh/v1\nkind: Pipeline\nname: ${name}\nsources:\n  - { name: orders, plugin: datagen, config: { rate: ${rate}, limit: ${limit}, batchSize: 50 } }\nsinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: ${out} } }\n`,
  );
  const config = join(home, `${name}-node.yaml`);
  await writeFile(
    config,
    `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(dir, 'data')}\nhttp: { port: 0 }\ntasks: { flushIntervalMs: 100 }\npipelines: [${pipeline}]\n`,
  );
  return { out, config };
}

describe('mesh node start', () => {
  it('drains on SIGTERM and resumes where it stopped: every change exactly once', async () => {
    const { out, config } = await nodeSetup('graceful', 1000, 0);
    const first = new MeshNodeProcess(['--config', config], env);
    await first.url();
    await eventually(async () => (analyse(await readLines(out)).distinct.size >= 1000 ? true : undefined));
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.lines.some((l) => l['msg'] === 'node stopped')).toBe(true);

    // Raise the limit: the restarted source continues at change 1001.
    await writeFile(
      config.replace('-node.yaml', '.yaml'),
      (await readFile(config.replace('-node.yaml', '.yaml'), 'utf8')).replace('limit: 1000', 'limit: 2000'),
    );
    const second = new MeshNodeProcess(['--config', config], env);
    await second.url();
    await eventually(async () => (analyse(await readLines(out)).distinct.size >= 2000 ? true : undefined));
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const result = analyse(await readLines(out));
    expect(result.distinct).toEqual(new Set(Array.from({ length: 2000 }, (_, i) => i + 1)));
    expect(result.duplicates).toBe(0);
    expect(result.outOfOrderKeys).toEqual([]);
  });

  it('serves the catalog of what its pipelines write: mesh catalog list and show', async () => {
    const { config } = await nodeSetup('catalogued', 10, 0);
    const node = new MeshNodeProcess(['--config', config], env);
    try {
      const url = await node.url();
      const listed = mesh(['catalog', 'list', '--url', url, '--json'], env);
      expect(listed.status, listed.stderr).toBe(0);
      const { topics } = JSON.parse(listed.stdout) as { topics: Record<string, unknown>[] };
      expect(topics).toEqual([
        expect.objectContaining({
          topic: 'orders.orders',
          kind: 'source',
          pipeline: 'catalogued',
          stage: 'orders',
          format: 'avro',
        }),
      ]);
      const shown = mesh(['catalog', 'show', 'orders.orders', '--url', url], env);
      expect(shown.status, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/value schema +orders\.orders-value version 1/);
      const missing = mesh(['catalog', 'show', 'nope', '--url', url], env);
      expect(missing.status).toBe(2);
      expect(missing.stderr).toMatch(/topic "nope" is not in the catalog/);
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  it('survives kill -9 at random points: no change lost, order per key kept', async () => {
    const limit = 6000;
    const { out, config } = await nodeSetup('crashy', limit, 3000);
    for (let crash = 0; crash < 3; crash++) {
      const node = new MeshNodeProcess(['--config', config], env);
      await node.url();
      await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 700)));
      node.child.kill('SIGKILL');
      await node.exited;
    }
    const last = new MeshNodeProcess(['--config', config], env);
    await last.url();
    await eventually(
      async () => (analyse(await readLines(out)).distinct.size >= limit ? true : undefined),
      30_000,
    );
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);

    const result = analyse(await readLines(out));
    expect(result.distinct).toEqual(new Set(Array.from({ length: limit }, (_, i) => i + 1)));
    expect(result.outOfOrderKeys).toEqual([]);
    // A source batch and its position commit in one transaction, and the file sink skips input it was handed
    // again by its position: no change reaches the file twice.
    expect(result.duplicates).toBe(0);
  });
});

describe('mesh node start: ${NAME} reads the environment', () => {
  it('fills pipeline and node config values from it; an unset variable refuses to start, exit code 2', async () => {
    const { out, config } = await nodeSetup('env', 100, 0);
    const pipeline = config.replace('-node.yaml', '.yaml');
    await writeFile(
      pipeline,
      (await readFile(pipeline, 'utf8')).replace(`path: ${out}`, 'path: "${OUT_FILE}"'),
    );
    await writeFile(
      config,
      (await readFile(config, 'utf8')).replace(/dataDir: (.*)/, 'dataDir: "$1${DATA_SUFFIX}"'),
    );
    const noSuffix = mesh(['node', 'start', '--config', config], env);
    expect(noSuffix.status).toBe(2);
    expect(noSuffix.stderr).toMatch(
      /-node\.yaml:3:10 \/dataDir: environment variable DATA_SUFFIX is not set/,
    );
    const noOutFile = mesh(['node', 'start', '--config', config], { ...env, DATA_SUFFIX: '-env' });
    expect(noOutFile.status).toBe(2);
    expect(noOutFile.stderr).toMatch(
      /env\.yaml:\d+:\d+ \/sinks\/0\/config\/path: environment variable OUT_FILE is not set/,
    );

    const node = new MeshNodeProcess(['--config', config], { ...env, OUT_FILE: out, DATA_SUFFIX: '-env' });
    await node.url();
    await eventually(async () => ((await readLines(out)).length >= 100 ? true : undefined));
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
  });
});

describe('mesh demo', () => {
  it('shows events flowing and stops cleanly on Ctrl-C', async () => {
    const dataDir = join(home, 'demo');
    const child = spawn(process.execPath, [CLI_BIN, 'demo', '--data-dir', dataDir, '--rate', '2000'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await eventually(() => (/events: generated \d+ · written [1-9]\d* /.test(stdout) ? true : undefined));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const summary = /demo stopped cleanly after [\d.]+ s: (\d+) events generated, (\d+) written/.exec(stdout);
    expect(summary).not.toBeNull();
    const lines = await readLines(join(dataDir, 'out', 'orders.jsonl'));
    expect(lines.length).toBe(Number(summary![2]));
    expect(lines.length).toBeGreaterThan(0);
    // E-mail addresses were hashed by the fused mask processor.
    const emails = lines.flatMap((l) =>
      (l as unknown as { after: { email: string } | null }).after
        ? [(l as unknown as { after: { email: string } }).after.email]
        : [],
    );
    expect(emails.every((e) => /^[0-9a-f]{64}$/.test(e))).toBe(true);
  });

  it('runs for a fixed duration when asked', () => {
    const result = mesh(['demo', '--data-dir', join(home, 'demo-timed'), '--duration', '2', '--fresh'], env);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/demo stopped cleanly after 2\.\d s/);
  });
});

/** Errors unwrapped: oclif wraps them at 80 columns when stderr is not a terminal. */
const wide = () => ({ ...env, OCLIF_COLUMNS: '1000' });

/** A `mesh demo` running in the background until it showed events flowing. */
async function startDemo(dataDir: string) {
  const child = spawn(process.execPath, [CLI_BIN, 'demo', '--data-dir', dataDir, '--rate', '200'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await eventually(() => (/events: generated \d+ · written [1-9]\d* /.test(stdout) ? true : undefined));
  return { child, exited };
}

describe('mesh topic tail', () => {
  it('without a topic or --list says what to pass, exit code 2', () => {
    const { status, stderr } = mesh(['topic', 'tail', '--data-dir', join(home, 'nowhere')], wide());
    expect(status).toBe(2);
    expect(stderr).toContain(
      'name the topic to tail (mesh topic tail <topic>), or pass --list to see the topics',
    );
  });

  it('on a data dir with no embedded log suggests --data-dir, exit code 2', () => {
    const dataDir = join(home, 'nowhere');
    for (const args of [['orders.orders'], ['--list']]) {
      const { status, stderr } = mesh(['topic', 'tail', ...args, '--data-dir', dataDir], wide());
      expect(status).toBe(2);
      expect(stderr).toContain(
        `the data dir ${dataDir} has no embedded log; pass the node's data dir with --data-dir`,
      );
    }
  });

  it('--list shows the topics with partition count and end offsets; --all adds internal ones; --json too', () => {
    const dataDir = join(home, 'listed');
    const demo = mesh(['demo', '--data-dir', dataDir, '--duration', '1', '--rate', '500'], env);
    expect(demo.status).toBe(0);
    const generated = Number(/(\d+) events generated/.exec(demo.stdout)![1]);

    const text = mesh(['topic', 'tail', '--list', '--data-dir', dataDir], env);
    expect(text.status).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TOPIC +PARTITIONS +END OFFSETS$/);
    // The pipeline's dead-letter topic is listed (empty); its replay topic is internal.
    expect(lines.slice(1).map((l) => l.split(/ +/)[0])).toEqual(['datamesh.dlq.demo', 'orders.orders']);
    const ordersLine = lines.find((l) => l.startsWith('orders.orders '))!;
    const offsets = ordersLine.split(/ +/).slice(2).map(Number);
    expect(ordersLine.split(/ +/)[1]).toBe('4');
    expect(offsets.reduce((a, b) => a + b, 0)).toBe(generated);

    const json = mesh(['topic', 'tail', '--list', '--all', '--json', '--data-dir', dataDir], env);
    expect(json.status).toBe(0);
    const { topics } = JSON.parse(json.stdout) as {
      topics: { name: string; partitions: number; endOffsets: number[] }[];
    };
    expect(topics.map((t) => t.name)).toContain('__datamesh_positions');
    expect(topics.map((t) => t.name)).toContain('datamesh.dlq.demo.replay');
    expect(topics.find((t) => t.name === 'orders.orders')).toEqual({
      name: 'orders.orders',
      partitions: 4,
      endOffsets: offsets,
    });
  });
});

describe('a data dir another process holds', () => {
  it('a second demo or node refuses it, naming the pid, exit code 2; --fresh deletes nothing; tail still reads', async () => {
    const dataDir = join(home, 'held');
    const first = await startDemo(dataDir);
    try {
      const message = `another datamesh process (pid ${first.child.pid}) is using ${join(dataDir, 'log')}; stop it or use another data dir`;
      for (const args of [
        ['demo', '--data-dir', dataDir, '--duration', '1'],
        ['demo', '--data-dir', dataDir, '--duration', '1', '--fresh'],
      ]) {
        const { status, stderr } = mesh(args, wide());
        expect(status).toBe(2);
        expect(stderr).toContain(message);
      }
      const pipeline = join(home, 'held-pipeline.yaml');
      await writeFile(
        pipeline,
        'apiVersion: datamesh/v1\nkind: Pipeline\nname: held\nsources:\n  - { name: orders, plugin: datagen }\n' +
          `sinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: ${join(home, 'held.jsonl')} } }\n`,
      );
      const config = join(home, 'held-node.yaml');
      await writeFile(
        config,
        `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${dataDir}\nhttp: { port: 0 }\npipelines: [${pipeline}]\n`,
      );
      const node = mesh(['node', 'start', '--config', config], wide());
      expect(node.status).toBe(2);
      expect(node.stderr).toContain(message);

      // --fresh left the running demo's data alone, and the log can still be read beside it.
      expect((await readLines(join(dataDir, 'out', 'orders.jsonl'))).length).toBeGreaterThan(0);
      const listed = mesh(['topic', 'tail', '--list', '--data-dir', dataDir], env);
      expect(listed.status).toBe(0);
      expect(listed.stdout).toMatch(/^orders\.orders +4 /m);
    } finally {
      first.child.kill('SIGINT');
    }
    expect(await first.exited).toBe(0);
  });
});
