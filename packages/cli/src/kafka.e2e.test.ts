import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { analyse, readLines } from './__fixtures__/changes-file.js';
import { isolatedHome, eventually, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';
import { TcpProxy } from '@datamesh/services/tcp-proxy';

// The same pipelines as node.e2e.test.ts, on a real Kafka broker: only the node config's transport differs.
let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;
let kafka: ServiceEndpoints['kafka'];
const run = Date.now().toString(36);

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-kafka-e2e-'));
  ({ kafka } = await useServices('kafka'));
}, 300_000);

afterAll(async () => {
  await remove();
});

async function kafkaNode(name: string, limit: number, rate: number, transport?: string) {
  const pipelineName = `${name}-${run}`;
  const out = join(home, name, 'out.jsonl');
  const pipeline = join(home, `${name}.yaml`);
  await writeFile(
    pipeline,
    `apiVersion: datamesh/v1\nkind: Pipeline\nname: ${pipelineName}\nsources:\n  - { name: ${name}-${run}, plugin: datagen, config: { rate: ${rate}, limit: ${limit}, batchSize: 50 } }\nsinks:\n  - { name: out, plugin: file, inputs: [${name}-${run}], config: { path: ${out} } }\n`,
  );
  const config = join(home, `${name}-node.yaml`);
  await writeFile(
    config,
    `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, name, 'data')}\nhttp: { port: 0 }\ntasks: { flushIntervalMs: 100 }\n` +
      (transport ??
        `transport: { kind: kafka, partitions: 3, kafka: { brokers: [${kafka.brokers[0]}], compression: lz4, sessionTimeoutMs: 6000 } }\n`) +
      `pipelines: [${pipeline}]\n`,
  );
  return { out, config };
}

describe('mesh node start on Kafka', () => {
  it('survives kill -9 at random points: every change exactly once, in order per key', async () => {
    const limit = 4000;
    const { out, config } = await kafkaNode('crashy', limit, 2000);
    for (let crash = 0; crash < 3; crash++) {
      const node = new MeshNodeProcess(['--config', config], env);
      await node.url(60_000);
      await new Promise((r) => setTimeout(r, 1500 + Math.floor(Math.random() * 1500)));
      node.child.kill('SIGKILL');
      await node.exited;
    }
    const last = new MeshNodeProcess(['--config', config], env);
    await last.url(60_000);
    await eventually(
      async () => (analyse(await readLines(out)).distinct.size >= limit ? true : undefined),
      90_000,
    );
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);

    const result = analyse(await readLines(out));
    expect(result.distinct.size).toBe(limit);
    expect(result.outOfOrderKeys).toEqual([]);
    // Events and source positions are written in one Kafka transaction, and the file sink drops input
    // records delivered again after a crash: nothing appears twice.
    expect(result.duplicates).toBe(0);
  }, 240_000);

  it('reports an unreachable broker clearly and exits 1 after bounded retries', async () => {
    const { config } = await kafkaNode(
      'unreachable',
      10,
      0,
      'transport: { kind: kafka, kafka: { brokers: [127.0.0.1:1], retries: 2, connectionTimeoutMs: 1000 } }\n',
    );
    const started = Date.now();
    const result = mesh(['node', 'start', '--config', config], { ...env, OCLIF_COLUMNS: '1000' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cannot reach Kafka at 127\.0\.0\.1:1 .*check transport\.kafka\.brokers/);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect(Date.now() - started).toBeLessThan(45_000);
  }, 60_000);

  it('refuses wrong SASL credentials without printing the password', async () => {
    const { config } = await kafkaNode(
      'badauth',
      10,
      0,
      `transport: { kind: kafka, kafka: { brokers: [${kafka.saslBrokers[0]}], retries: 1, sasl: { mechanism: scram-sha-512, username: datamesh, password: "\${KAFKA_PASSWORD}" } } }\n`,
    );
    const result = mesh(['node', 'start', '--config', config], {
      ...env,
      OCLIF_COLUMNS: '1000',
      KAFKA_PASSWORD: 'wrong-secret-value',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Kafka refused the credentials of user "datamesh" \(scram-sha-512\)/);
    expect(result.stderr + result.stdout).not.toContain('wrong-secret-value');
  }, 60_000);

  it('says which setting is missing when kind is kafka without brokers (exit 2)', async () => {
    const { config } = await kafkaNode('nobrokers', 10, 0, 'transport: { kind: kafka }\n');
    const result = mesh(['node', 'start', '--config', config], { ...env, OCLIF_COLUMNS: '1000' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/\/transport: transport kind "kafka" needs a `kafka` section/);
  });
});

describe('mesh node start on Kafka: the broker becomes unreachable mid-run', () => {
  it('reports it in /health, retries with backoff, and recovers when the broker is back: nothing lost', async () => {
    const limit = 3000;
    const proxy = new TcpProxy(Number(kafka.faulty.brokers[0]!.split(':')[1]), kafka.faulty.proxyTo);
    await proxy.open();
    const { out, config } = await kafkaNode(
      'outage',
      limit,
      300,
      `transport: { kind: kafka, partitions: 2, kafka: { brokers: [${kafka.faulty.brokers[0]}], retries: 2, connectionTimeoutMs: 1000, sessionTimeoutMs: 6000 } }\n`,
    );
    const node = new MeshNodeProcess(['--config', config], env);
    try {
      const url = await node.url(60_000);
      await eventually(async () => ((await readLines(out)).length > 100 ? true : undefined), 30_000);

      await proxy.cut();
      const degraded = await eventually(async () => {
        const response = await fetch(`${url}/health`);
        const body = (await response.json()) as {
          status: string;
          tasks: { state: string; lastError?: string }[];
        };
        return response.status === 503 && body.status === 'degraded' ? body : undefined;
      }, 60_000);
      expect(degraded.tasks.some((t) => t.state === 'restarting' && t.lastError)).toBe(true);

      await proxy.open();
      const explain = async (error: unknown): Promise<never> => {
        const health = await (await fetch(`${url}/health`)).text();
        const metrics = (await (await fetch(`${url}/metrics`)).text())
          .split('\n')
          .filter((l) => /^datamesh_.*(events|lag)/.test(l))
          .join(' | ');
        const errors = node.lines.filter((l) => l['level'] === 50).slice(-3);
        const distinct = analyse(await readLines(out)).distinct.size;
        throw new Error(
          `${(error as Error).message}; ${distinct} changes written; health: ${health}; metrics: ${metrics}; last errors: ${JSON.stringify(errors)}; warnings: ${JSON.stringify(node.lines.filter((l) => l['level'] === 40).slice(-5))}`,
        );
      };
      await eventually(
        async () => ((await fetch(`${url}/health`)).status === 200 ? true : undefined),
        90_000,
      ).catch(explain);
      await eventually(
        async () => (analyse(await readLines(out)).distinct.size >= limit ? true : undefined),
        90_000,
      ).catch(explain);
      node.child.kill('SIGTERM');
      expect(await node.exited).toBe(0);
      const result = analyse(await readLines(out));
      expect(result.distinct.size).toBe(limit);
      expect(result.outOfOrderKeys).toEqual([]);
      expect(result.duplicates).toBe(0);
    } finally {
      node.child.kill('SIGKILL');
      await proxy.cut();
    }
  }, 300_000);
});

describe('mesh demo --kafka', () => {
  it('runs the demo over Kafka', () => {
    const dataDir = join(home, 'demo-kafka');
    const result = mesh(
      ['demo', '--data-dir', dataDir, '--duration', '4', '--rate', '500', '--kafka', kafka.brokers[0]!],
      env,
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`over Kafka at ${kafka.brokers[0]}`);
    const summary = /demo stopped cleanly after [\d.]+ s: (\d+) events generated, (\d+) written/.exec(
      result.stdout,
    );
    expect(Number(summary?.[2])).toBeGreaterThan(0);
  }, 60_000);
});
