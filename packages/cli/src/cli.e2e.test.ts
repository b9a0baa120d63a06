import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedHome, eventually, mesh, MeshNodeProcess, which } from './__fixtures__/mesh-process.js';

const fixtures = fileURLToPath(new URL('../../core/src/registry/__fixtures__/', import.meta.url));
let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-cli-'));
});

afterAll(async () => {
  await remove();
});

async function writePipeline(name: string, body: string): Promise<string> {
  const file = join(home, name);
  await writeFile(file, body);
  return file;
}

const header = 'apiVersion: datamesh/v1\nkind: Pipeline\nname: p\n';

describe('mesh --help', () => {
  it('lists every command', () => {
    const { status, stdout } = mesh(['--help'], env);
    expect(status).toBe(0);
    for (const command of [
      'node start',
      'pipeline validate',
      'plugins install',
      'plugins uninstall',
      'plugins link',
      'alerts generate',
      'dashboards generate',
      'topic tail',
      'processor new',
      'demo',
    ]) {
      expect(stdout).toContain(`  ${command} `);
    }
    // `mesh plugins` (no sub-command) lists installed plugins; it is there too.
    expect(stdout).toMatch(/^ {2}plugins +List installed plugins/m);
  });
});

describe('mesh pipeline validate: bad input gives a clear error naming where, and exit code 2', () => {
  it('invalid YAML', async () => {
    const file = await writePipeline('bad.yaml', `${header}sources:\n  - name: orders\n   plugin: datagen\n`);
    const { status, stderr } = mesh(['pipeline', 'validate', file], env);
    expect(status).toBe(2);
    expect(stderr).toContain(`${file}:6:`);
    expect(stderr).toMatch(/not valid YAML/);
  });

  it('unknown plugin', async () => {
    const file = await writePipeline(
      'unknown.yaml',
      `${header}sources:\n  - { name: orders, plugin: oracle }\nsinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: /tmp/x } }\n`,
    );
    const { status, stderr } = mesh(['pipeline', 'validate', file], env);
    expect(status).toBe(2);
    expect(stderr).toContain(
      `${file}:5:29 /sources/0/plugin: unknown source plugin "oracle" (installed: datagen, postgres;`,
    );
  });

  it('wrong config types', async () => {
    const file = await writePipeline(
      'types.yaml',
      `${header}sources:\n  - name: orders\n    plugin: datagen\n    config:\n      rate: fast\n      keys: -1\nsinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: 7 } }\n`,
    );
    const { status, stderr } = mesh(['pipeline', 'validate', file], env);
    expect(status).toBe(2);
    expect(stderr).toContain(`${file}:8:13 /sources/0/config/rate: Expected number`);
    expect(stderr).toContain(
      `${file}:9:13 /sources/0/config/keys: Expected integer to be greater or equal to 1`,
    );
    expect(stderr).toMatch(/:11:\d+ \/sinks\/0\/config\/path: Expected string/);
  });

  it('schema-incompatible wiring', async () => {
    const file = await writePipeline(
      'wiring.yaml',
      `${header}sources:\n  - { name: orders, plugin: datagen }\nprocessors:\n  - { name: m, plugin: mask, inputs: [orders], config: { fields: [amount_cents, phone] } }\nsinks:\n  - { name: out, plugin: file, inputs: [m], config: { path: /tmp/x } }\n`,
    );
    const { status, stderr } = mesh(['pipeline', 'validate', file], env);
    expect(status).toBe(2);
    expect(stderr).toContain(`${file}:7:`);
    expect(stderr).toContain(
      'processor "m" (mask) cannot take its inputs: field "amount_cents" of orders/orders is "long", not a string',
    );
    expect(stderr).toContain('field "phone" is not in orders/orders');
  });

  it('a valid pipeline prints its plan with the fused processors', () => {
    const { status, stdout } = mesh(
      [
        'pipeline',
        'validate',
        fileURLToPath(new URL('../../../examples/demo/pipeline.yaml', import.meta.url)),
      ],
      env,
    );
    expect(status).toBe(0);
    expect(stdout).toContain(
      'task orders-masked.orders-file: orders.orders -> [mask-emails] (fused) -> sink orders-file (file)',
    );
  });

  it('says how a task writing a topic is placed on the nodes', async () => {
    const file = await writePipeline(
      'spread.yaml',
      `${header}sources:\n  - { name: orders, plugin: datagen }\nprocessors:\n  - { name: m, plugin: mask, inputs: [orders], shared: true, config: { fields: [email] } }\n`,
    );
    const { status, stdout } = mesh(['pipeline', 'validate', file], env);
    expect(status).toBe(0);
    expect(stdout).toMatch(
      /-> topic \S+\.m \(once per input partition, spread over the nodes, when its inputs share a partition count > 1\)/,
    );
    const json = mesh(['pipeline', 'validate', file, '--json'], env);
    expect(JSON.parse(json.stdout).tasks[0].runs).toBe('per-partition');
  });
});

describe('mesh pipeline validate --json: the outcome as JSON on stdout, even when invalid', () => {
  it('invalid YAML: {"valid": false, "problems": [...]} with file, line and column, exit code 2', async () => {
    const file = await writePipeline(
      'bad-json.yaml',
      `${header}sources:\n  - name: orders\n   plugin: datagen\n`,
    );
    const { status, stdout, stderr } = mesh(['pipeline', 'validate', file, '--json'], env);
    expect(status).toBe(2);
    const result = JSON.parse(stdout) as { valid: boolean; problems: Record<string, unknown>[] };
    expect(result.valid).toBe(false);
    expect(result.problems[0]).toEqual({
      path: '',
      message: expect.any(String),
      file,
      line: 6,
      column: expect.any(Number),
    });
    expect(stderr).toBe('');
  });

  it('an unknown plugin', async () => {
    const file = await writePipeline(
      'unknown-json.yaml',
      `${header}sources:\n  - { name: orders, plugin: oracle }\nsinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: /tmp/x } }\n`,
    );
    const { status, stdout } = mesh(['pipeline', 'validate', file, '--json'], env);
    expect(status).toBe(2);
    expect((JSON.parse(stdout) as { problems: unknown[] }).problems).toContainEqual({
      path: '/sources/0/plugin',
      message: expect.stringMatching(/^unknown source plugin "oracle"/),
      file,
      line: 5,
      column: 29,
    });
  });

  it('a valid pipeline: its plan, exit code 0', () => {
    const demo = fileURLToPath(new URL('../../../examples/demo/pipeline.yaml', import.meta.url));
    const { status, stdout } = mesh(['pipeline', 'validate', demo, '--json'], env);
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ pipeline: 'orders-masked', valid: true });
  });
});

describe('config errors say what is allowed', () => {
  it('a stage name that is not kebab-case', async () => {
    const file = await writePipeline(
      'bad-name.yaml',
      `${header}sources:\n  - { name: Bad Name, plugin: datagen }\nsinks:\n  - { name: out, plugin: file, inputs: [orders], config: { path: /tmp/x } }\n`,
    );
    const { status, stderr } = mesh(['pipeline', 'validate', file], env);
    expect(status).toBe(2);
    expect(stderr).toContain(
      `${file}:5:13 /sources/0/name: must be kebab-case: lowercase letters, digits and single dashes (got "Bad Name")`,
    );
  });

  it('an fsync policy that does not exist', async () => {
    const config = join(home, 'fsync-node.yaml');
    await writeFile(config, 'apiVersion: datamesh/v1\nkind: Node\ntransport:\n  fsync: sometimes\n');
    const { status, stderr } = mesh(['node', 'start', '--config', config], env);
    expect(status).toBe(2);
    expect(stderr).toContain(
      `${config}:4:10 /transport/fsync: must be one of always, interval, never (got "sometimes")`,
    );
  });
});

describe('${NAME} in a pipeline reads the environment', () => {
  const body = `${header}sources:\n  - { name: orders, plugin: datagen }\nsinks:\n  - name: out\n    plugin: file\n    inputs: [orders]\n    config: { path: "\${OUT_DIR}/orders-$\${x}.jsonl" }\n`;

  it('a set variable is substituted', async () => {
    const file = await writePipeline('env.yaml', body);
    const { status, stdout } = mesh(['pipeline', 'validate', file], { ...env, OUT_DIR: home });
    expect(status).toBe(0);
    expect(stdout).toContain('pipeline "p" is valid');
  });

  it('an unset variable is a problem at its value, exit code 2', async () => {
    const file = await writePipeline('env-unset.yaml', body);
    const { OUT_DIR: _unset, ...withoutIt } = env;
    const { status, stderr } = mesh(['pipeline', 'validate', file], withoutIt);
    expect(status).toBe(2);
    expect(stderr).toContain(`${file}:10:21 /sinks/0/config/path: environment variable OUT_DIR is not set`);
  });
});

describe('--port takes a TCP port', () => {
  it.each([
    ['node start', ['node', 'start', '--config', 'node.yaml']],
    ['demo', ['demo', '--duration', '1']],
  ])('mesh %s refuses 70000 before doing anything, exit code 2', (_, command) => {
    const { status, stderr } = mesh([...command, '--port', '70000'], env, home);
    expect(status).toBe(2);
    expect(stderr).toMatch(/Expected an integer less than or equal to 65535 but received: 70000/);
  });
});

describe('third-party plugins', () => {
  it('a linked plugin is discovered, runs in a pipeline, and its metrics appear labelled; a malformed one is refused and the node still starts', async () => {
    const link = (dir: string) => mesh(['plugins', 'link', join(fixtures, dir), '--no-install'], env);
    expect(link('shout-processor').status).toBe(0);
    expect(link('malformed-manifest').status).toBe(0);

    const check = mesh(['plugins', 'check', '--json'], env);
    expect(check.status).toBe(2);
    const listed = JSON.parse(check.stdout) as {
      accepted: { name: string; package: string }[];
      refused: { package: string; reason: string }[];
    };
    expect(listed.accepted.map((p) => p.name)).toEqual(
      expect.arrayContaining(['shout', 'datagen', 'mask', 'file']),
    );
    expect(listed.refused).toEqual([
      expect.objectContaining({
        package: 'datamesh-malformed',
        reason: expect.stringMatching(/^malformed plugin manifest/),
      }),
    ]);

    const out = join(home, 'shouted.jsonl');
    const pipeline = await writePipeline(
      'shout.yaml',
      `${header}sources:\n  - { name: orders, plugin: datagen, config: { rate: 0, limit: 400 } }\nprocessors:\n  - { name: loud, plugin: shout, inputs: [orders], config: { fields: [customer] } }\nsinks:\n  - { name: out, plugin: file, inputs: [loud], config: { path: ${out} } }\n`,
    );
    const nodeConfig = join(home, 'node.yaml');
    await writeFile(
      nodeConfig,
      `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, 'node-data')}\nhttp: { port: 0 }\npipelines: [${pipeline}]\n`,
    );
    const node = new MeshNodeProcess(['--config', nodeConfig], env);
    try {
      const url = await node.url();
      expect(node.stderr).toMatch(/plugin datamesh-malformed refused: malformed plugin manifest/);
      const metrics = await eventually(async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return /datamesh_events_out_total\{pipeline="p",stage="out",plugin="file",kind="sink"\} 4\d\d/.test(
          text,
        )
          ? text
          : undefined;
      });
      expect(metrics).toMatch(
        /datamesh_events_in_total\{pipeline="p",stage="loud",plugin="shout",kind="processor"\} 4\d\d/,
      );
      expect(metrics).toMatch(
        /datamesh_plugin_shout_shouted_fields_total\{pipeline="p",stage="loud",plugin="shout"\} \d+/,
      );
      const lines = (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { after: { customer: string } | null });
      const customers = lines.filter((l) => l.after).map((l) => l.after!.customer);
      expect(customers.length).toBeGreaterThan(0);
      expect(customers.every((c) => c === c.toUpperCase())).toBe(true);
    } finally {
      node.child.kill('SIGTERM');
    }
    expect(await node.exited).toBe(0);
  });

  it('alerts and dashboards include every registered plugin, third-party ones too, and the rules pass promtool', async () => {
    const rulesFile = join(home, 'alerts.yml');
    const alerts = mesh(['alerts', 'generate', '--out', rulesFile], env);
    expect(alerts.status).toBe(0);
    const rules = await readFile(rulesFile, 'utf8');
    for (const plugin of ['datagen', 'mask', 'file', 'shout'])
      expect(rules).toContain(`name: datamesh-plugin-${plugin}`);
    const promtool = which('promtool');
    if (!promtool) throw new Error('promtool is not on PATH; run: npm run services -- install prometheus');
    const checked = spawnSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(checked.status).toBe(0);

    const dashboard = mesh(['dashboards', 'generate'], env);
    expect(dashboard.status).toBe(0);
    const json = JSON.parse(dashboard.stdout) as { panels: { title: string }[] };
    expect(json.panels.map((p) => p.title).join('\n')).toMatch(/shout/);
  });

  it('unlinking removes the plugin from the registry', () => {
    expect(mesh(['plugins', 'unlink', 'datamesh-processor-shout'], env).status).toBe(0);
    expect(mesh(['plugins', 'unlink', 'datamesh-malformed'], env).status).toBe(0);
    const check = mesh(['plugins', 'check', '--json'], env);
    expect(check.status).toBe(0);
    expect(
      (JSON.parse(check.stdout) as { accepted: { name: string }[] }).accepted.map((p) => p.name),
    ).not.toContain('shout');
  });
});
