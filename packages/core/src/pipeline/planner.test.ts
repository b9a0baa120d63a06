import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { defineProcessor, defineSink, defineSource, PlanError } from '../contract/plugin.js';
import { envelopeSchemas, rowSchemaOf } from '../schema/envelope-schema.js';
import { recordFields } from '../schema/avro.js';
import { PluginRegistry } from '../registry/plugin-registry.js';
import { planPipeline, sharedTopicProblems } from './planner.js';
import { DocumentError, SourceDocument } from './source-document.js';

const users = envelopeSchemas({
  name: 'app.users',
  keyFields: ['id'],
  fields: [
    { name: 'id', type: 'long' },
    { name: 'email', type: 'string' },
    { name: 'age', type: 'int' },
  ],
});
const teams = envelopeSchemas({
  name: 'app.teams',
  keyFields: ['id'],
  fields: [{ name: 'id', type: 'long' }],
});

const source = defineSource({
  name: 'fake-db',
  version: '1.0.0',
  config: Type.Object({ tables: Type.Array(Type.String(), { default: ['users'] }) }),
  streams: (config) => config.tables.map((t) => ({ name: t, ...(t === 'users' ? users : teams) })),
  create: () => {
    throw new Error('not run in planning');
  },
});
/** Requires a string field, like a real processor that would break on anything else. */
const upper = defineProcessor({
  name: 'upper',
  version: '1.0.0',
  config: Type.Object({ field: Type.String() }),
  plan(inputs, config) {
    const field = recordFields(rowSchemaOf(inputs[0]!.valueSchema)).find((f) => f.name === config.field);
    if (!field) throw new PlanError(`no field "${config.field}"`);
    if (field.type !== 'string')
      throw new PlanError(`field "${config.field}" is ${JSON.stringify(field.type)}, not a string`);
    return {
      ...inputs[0]!,
      lineage: [
        {
          output: `after.${config.field}`,
          inputs: [{ input: inputs[0]!.name, field: `after.${config.field}` }],
          transform: 'upper',
        },
      ],
    };
  },
  create: () => ({ process: (e) => e }),
});
const sink = defineSink({
  name: 'store',
  version: '1.0.0',
  config: Type.Object({ path: Type.String(), batch: Type.Integer({ default: 10 }) }),
  create: () => ({ write: async () => {}, flush: async () => {} }),
});

function registry(): PluginRegistry {
  const r = new PluginRegistry();
  for (const plugin of [source, upper, sink])
    r.add({ plugin, packageName: `pkg-${plugin.name}`, packageVersion: '1.0.0', packageDir: '/x' });
  return r;
}

async function plan(yaml: string) {
  return planPipeline(SourceDocument.parse(yaml, 'p.yaml'), registry());
}

async function problems(yaml: string): Promise<string[]> {
  try {
    await plan(yaml);
  } catch (error) {
    if (error instanceof DocumentError)
      return error.problems.map((p) => `${p.location?.line ?? '?'}:${p.path}: ${p.message}`);
    throw error;
  }
  throw new Error('expected the pipeline to be invalid');
}

const header = `apiVersion: datamesh/v1
kind: Pipeline
name: p
`;

describe('planPipeline', () => {
  it('fuses consecutive stateless processors into the sink task', async () => {
    const result = await plan(`${header}sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: a, plugin: upper, inputs: [db], config: { field: email } }
  - { name: b, plugin: upper, inputs: [a], config: { field: email } }
sinks:
  - { name: out, plugin: store, inputs: [b], config: { path: /tmp/x } }
`);
    expect(result.tasks).toHaveLength(1);
    const task = result.tasks[0]!;
    expect(task.inputs.map((i) => i.topic)).toEqual(['db.users']);
    expect(task.chain.map((p) => p.stage.name)).toEqual(['a', 'b']);
    expect(task.output.kind).toBe('sink');
    expect(result.sinks[0]!.config).toEqual({ path: '/tmp/x', batch: 10 });
    expect(result.lineage.get('a')).toEqual([
      { output: 'after.email', inputs: [{ input: 'db/users', field: 'after.email' }], transform: 'upper' },
    ]);
  });

  it('plans a pipeline that only captures: a source task and its topics, no consumer task', async () => {
    const result = await plan(`${header}sources:
  - { name: db, plugin: fake-db }
`);
    expect(result.sources.map((s) => [...s.streams.values()].map((t) => t.topic))).toEqual([['db.users']]);
    expect(result.tasks).toEqual([]);
  });

  it('materialises a shared stage and a stage with two consumers as topics', async () => {
    const result = await plan(`${header}sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: a, plugin: upper, inputs: [db], config: { field: email }, shared: true }
  - { name: b, plugin: upper, inputs: [a], config: { field: email } }
sinks:
  - { name: out1, plugin: store, inputs: [b], config: { path: /tmp/1 } }
  - { name: out2, plugin: store, inputs: [b], config: { path: /tmp/2 } }
`);
    const tasks = Object.fromEntries(result.tasks.map((t) => [t.id, t]));
    expect(Object.keys(tasks).sort()).toEqual(['p.a', 'p.b', 'p.out1', 'p.out2']);
    expect(tasks['p.a']!.output).toMatchObject({ kind: 'topic' });
    expect(tasks['p.b']!.inputs.map((i) => i.topic)).toEqual(['p.a']);
    expect(tasks['p.out1']!.inputs.map((i) => i.topic)).toEqual(['p.b']);
    expect(tasks['p.out1']!.chain).toEqual([]);
  });

  it('reports invalid YAML with its line', async () => {
    expect(await problems(`${header}sources:\n  - name: db\n   plugin: x\n`)).toEqual([
      expect.stringMatching(/^6:: /),
    ]);
  });

  it('reports an unknown plugin with its line and the installed ones', async () => {
    const found = await problems(`${header}sources:
  - { name: db, plugin: fake-db }
sinks:
  - { name: out, plugin: iceberg, inputs: [db/users], config: {} }
`);
    expect(found).toEqual([
      '7:/sinks/0/plugin: unknown sink plugin "iceberg" (installed: store; add one with `mesh plugins install <package>`)',
    ]);
  });

  it('reports wrong config types at the field, all at once', async () => {
    const found = await problems(`${header}sources:
  - name: db
    plugin: fake-db
    config:
      tables: users
sinks:
  - name: out
    plugin: store
    inputs: [db/users]
    config:
      path: 42
      batch: many
`);
    expect(found).toEqual([
      expect.stringMatching(/^8:\/sources\/0\/config\/tables: Expected array/),
      expect.stringMatching(/^14:\/sinks\/0\/config\/path: Expected string/),
      expect.stringMatching(/^15:\/sinks\/0\/config\/batch: Expected integer/),
    ]);
  });

  it('rejects schema-incompatible wiring before anything runs', async () => {
    const found = await problems(`${header}sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: a, plugin: upper, inputs: [db], config: { field: age } }
sinks:
  - { name: out, plugin: store, inputs: [a], config: { path: /tmp/x } }
`);
    expect(found).toEqual([
      '7:/processors/0/inputs: processor "a" (upper) cannot take its inputs: field "age" is "int", not a string',
    ]);
  });

  it('reports unknown inputs, ambiguous streams, cycles and unused outputs', async () => {
    const found = await problems(`${header}sources:
  - { name: db, plugin: fake-db, config: { tables: [users, teams] } }
processors:
  - { name: a, plugin: upper, inputs: [b], config: { field: email } }
  - { name: b, plugin: upper, inputs: [a], config: { field: email } }
  - { name: c, plugin: upper, inputs: [db], config: { field: email } }
sinks:
  - { name: out, plugin: store, inputs: [nowhere], config: { path: /tmp/x } }
`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringContaining('processor "a" is part of a cycle'),
        expect.stringContaining('"db" produces 2 streams; name one: db/users, db/teams'),
        expect.stringContaining('/sinks/0/inputs/0: unknown input "nowhere"'),
      ]),
    );
  });

  it('keeps checking the other stages when one stage entry is malformed', async () => {
    const found = await problems(`${header}sources:
  - { name: db, plugin: fake-db }
  - { name: Bad Name, plugin: fake-db }
processors:
  - { name: a, plugin: upper, inputs: [db], config: { field: age } }
sinks:
  - { name: out, plugin: nowhere, inputs: [a], config: { path: /tmp/x } }
`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^6:\/sources\/1\/name: /),
        expect.stringContaining('field "age" is "int", not a string'),
        expect.stringContaining('/sinks/0/plugin: unknown sink plugin "nowhere"'),
      ]),
    );
  });

  it('does not offer a stage as its own input', async () => {
    const found = await problems(`${header}sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: a, plugin: upper, inputs: [missing], config: { field: email } }
sinks:
  - { name: out, plugin: store, inputs: [a/users], config: { path: /tmp/x } }
`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/unknown input "missing"; stages that produce streams: db$/),
      ]),
    );
  });

  it('refuses two stages writing one topic, within a pipeline and across pipelines', async () => {
    const found = await problems(`apiVersion: datamesh/v1
kind: Pipeline
name: db
sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: users, plugin: upper, inputs: [db], config: { field: email }, shared: true }
sinks:
  - { name: out, plugin: store, inputs: [users], config: { path: /tmp/x } }
`);
    expect(found).toEqual([
      expect.stringContaining('topic "db.users" is already written by the stage at /sources/0'),
    ]);

    const one = await plan(
      `${header}sources: [{ name: shop, plugin: fake-db }]\nsinks: [{ name: out, plugin: store, inputs: [shop], config: { path: /a } }]\n`,
    );
    const two = await plan(
      `${header.replace('name: p', 'name: q')}sources: [{ name: shop, plugin: fake-db }]\nsinks: [{ name: out, plugin: store, inputs: [shop], config: { path: /b } }]\n`,
    );
    expect(sharedTopicProblems([one, two]).map((p) => p.message)).toEqual([
      'topic "shop.users" would be written by pipelines "p" and "q"; give their source stages distinct names',
    ]);
  });
});

describe('planPipeline: a processor that runs as parts', () => {
  /** A part: passes its input on, stateful per partition; `schemas` overrides what its plan gives. */
  const part = (name: string, schemas?: typeof users) =>
    defineProcessor({
      name,
      version: '1.0.0',
      config: Type.Object({}),
      stateful: true,
      plan: (inputs) => ({ ...(schemas ?? inputs[0]!), lineage: [], perPartition: true }),
      create: () => ({ process: (e) => e }),
    });
  const split = (parts: ReturnType<NonNullable<ReturnType<typeof defineProcessor>['expand']>>) =>
    defineProcessor({
      name: 'split',
      version: '1.0.0',
      config: Type.Object({}),
      stateful: true,
      plan: (inputs) => ({ ...inputs[0]!, lineage: [] }),
      expand: () => parts,
      create: () => {
        throw new Error('runs as its parts');
      },
    });
  const planWith = (plugin: ReturnType<typeof split>) => {
    const r = registry();
    r.add({ plugin, packageName: 'pkg-split', packageVersion: '1.0.0', packageDir: '/x' });
    return planPipeline(
      SourceDocument.parse(
        `${header}sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: s, plugin: split, inputs: [db] }
sinks:
  - { name: out, plugin: store, inputs: [s], config: { path: /tmp/x } }
`,
        'p.yaml',
      ),
      r,
    );
  };

  it('runs each part as a task of its own, joined by internal topics, the last writing the stage’s topic', async () => {
    const result = await planWith(
      split([
        { name: 'keyed', plugin: part('part-one'), config: {}, inputs: [0], partitionsLike: 0 },
        { name: 'final', plugin: part('part-two'), config: {}, inputs: ['keyed'] },
      ]),
    );
    const tasks = result.tasks.map((t) => ({
      id: t.id,
      inputs: t.inputs.map((i) => i.topic),
      chain: t.chain.map((p) => `${p.stage.name} (${p.plugin.name})`),
      output: t.output.kind === 'topic' ? t.output.processor.output.topic : 'sink',
    }));
    expect(tasks).toEqual([
      {
        id: 'p.s.keyed',
        inputs: ['db.users'],
        chain: ['s.keyed (part-one)'],
        output: '__datamesh_part.p.s.keyed',
      },
      {
        id: 'p.s.final',
        inputs: ['__datamesh_part.p.s.keyed'],
        chain: ['s.final (part-two)'],
        output: 'p.s',
      },
      { id: 'p.out', inputs: ['p.s'], chain: [], output: 'sink' },
    ]);
    // The stage stays one stage for the catalog and lineage; the repartition topic copies its input's count.
    expect(result.processors.map((p) => p.stage.name)).toEqual(['s']);
    expect(result.processors[0]!.parts?.[0]!.output.partitionsLike).toBe('db.users');
    expect(result.processors[0]!.parts?.[1]!.output).toBe(result.processors[0]!.output);
    // Metrics, logs and dead letters of a part carry the stage's plugin: its dashboards and alerts cover the parts.
    expect(result.processors[0]!.parts!.map((p) => p.stage.plugin)).toEqual(['split', 'split']);
  });

  it('refuses parts reading an input fused into the stage: parts read topics', async () => {
    const r = registry();
    r.add({
      plugin: split([{ name: 'one', plugin: part('part-one'), config: {}, inputs: [0] }]),
      packageName: 'pkg-split',
      packageVersion: '1.0.0',
      packageDir: '/x',
    });
    const planned = planPipeline(
      SourceDocument.parse(
        `${header}sources:
  - { name: db, plugin: fake-db }
processors:
  - { name: a, plugin: upper, inputs: [db], config: { field: email } }
  - { name: s, plugin: split, inputs: [a], shared: true }
`,
        'p.yaml',
      ),
      r,
    );
    await expect(planned).rejects.toMatchObject({
      problems: [
        expect.objectContaining({
          message:
            'processor "s" (split) runs as parts, which read its inputs from topics, but its input "a" is fused into it: mark stage "a" "shared: true"',
        }),
      ],
    });
  });

  it('reports parts that cannot be wired: a bad name, an unknown input, a last part whose schemas differ', async () => {
    const failures = async (plugin: ReturnType<typeof split>) => {
      try {
        await planWith(plugin);
      } catch (error) {
        if (error instanceof DocumentError) return error.problems.map((p) => p.message);
        throw error;
      }
      return [];
    };
    expect(
      await failures(split([{ name: 'Bad', plugin: part('part-one'), config: {}, inputs: [0] }])),
    ).toEqual(['processor "s" (split) declares a part named "Bad": part names are kebab-case and unique']);
    expect(
      await failures(split([{ name: 'one', plugin: part('part-one'), config: {}, inputs: ['two'] }])),
    ).toEqual([
      'processor "s" (split) part "one" reads "two", which is neither an input nor an earlier part',
    ]);
    expect(
      await failures(split([{ name: 'one', plugin: part('part-one', teams), config: {}, inputs: [0] }])),
    ).toEqual([
      'processor "s" (split) ends in part "one", whose output schemas differ from the stage\'s plan',
    ]);
  });
});
