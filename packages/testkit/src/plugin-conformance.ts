import { isDeepStrictEqual } from 'node:util';
import { describe, it } from 'vitest';
import {
  avroType,
  isPlugin,
  recordFields,
  rowSchemaOf,
  OPERATIONS,
  parseConfig,
  type AvroSchema,
  type AvroType,
  type ChangeEvent,
  type Operation,
  type PluginKind,
  type Position,
  type ProcessorInput,
  type ProcessorPlan,
  type ProcessorPlugin,
  type SinkPlugin,
  type SinkRecord,
  type SourceBatch,
  type SourcePlugin,
  type SourceTask,
  type Static,
  type StreamSchemas,
  type TSchema,
} from '@datamesh/core';
import { createTestContext, type TestContext } from './plugin-context.js';

/* ------------------------------------------------------------------------------------------------
 * Shared
 * --------------------------------------------------------------------------------------------- */

/** A conformance check failed; `check` names it, the message says what the plugin did wrong. */
export class ConformanceError extends Error {
  readonly check: string;

  constructor(check: string, message: string) {
    super(`${check}: ${message}`);
    this.name = 'ConformanceError';
    this.check = check;
  }
}

/** A config the plugin must refuse, and the JSON pointers (`/tables/0/name`) its ConfigError must name. */
export interface InvalidConfig {
  readonly config: unknown;
  readonly paths: readonly string[];
}

const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

const DEFAULT_READ_TIMEOUT_MS = 10_000;
/** How long a read, start or stop may take past its signal being aborted. */
const ABORT_GRACE_MS = 2_000;

function fail(check: string, message: string): never {
  throw new ConformanceError(check, message);
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text =
    (JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) as
      string | undefined) ?? String(value);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Resolves `promise`, or throws what `onTimeout` makes if it takes longer than `ms`. */
async function within<T>(promise: Promise<T> | T, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([Promise.resolve(promise), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The config value: `config` itself, or what it returns when it is a function (evaluated per check). */
function configInput(config: unknown): unknown {
  return typeof config === 'function' ? (config as () => unknown)() : config;
}

interface AnyPlugin {
  readonly kind: PluginKind;
  readonly name: string;
  readonly config: TSchema;
}

function parseFor<S extends TSchema>(
  check: string,
  plugin: { name: string; kind: PluginKind; config: S },
  input: unknown,
): Static<S> {
  try {
    return parseConfig(plugin.config, configInput(input), `${plugin.kind} "${plugin.name}"`);
  } catch (error) {
    return fail(check, `the config given to the suite is refused: ${errorMessage(error)}`);
  }
}

/* ------------------------------------------------------------------------------------------------
 * Checks every plugin passes: branding and config validation
 * --------------------------------------------------------------------------------------------- */

/** (a) A branded plugin value (`isPlugin`) of `kind`, with a kebab-case name, a semver version and a config schema. */
export async function checkBranding(plugin: unknown, kind: PluginKind): Promise<void> {
  const check = 'branding';
  if (!isPlugin(plugin)) {
    fail(check, 'the value is not a plugin made by defineSource/defineProcessor/defineSink (no brand)');
  }
  if (plugin.kind !== kind) fail(check, `kind is "${plugin.kind}", expected "${kind}"`);
  if (!NAME_PATTERN.test(plugin.name)) fail(check, `name "${plugin.name}" is not kebab-case`);
  if (!SEMVER_PATTERN.test(plugin.version)) fail(check, `version "${plugin.version}" is not semver`);
  if (!SEMVER_PATTERN.test(plugin.apiVersion)) fail(check, `apiVersion "${plugin.apiVersion}" is not semver`);
  const config = plugin.config as unknown;
  if (typeof config !== 'object' || config === null || (config as { type?: unknown }).type !== 'object') {
    fail(check, 'config is not an object schema (Type.Object)');
  }
  const methods: Record<PluginKind, readonly string[]> = {
    source: ['streams', 'create'],
    processor: ['plan', 'create'],
    sink: ['create'],
  };
  for (const method of methods[kind]) {
    if (typeof (plugin as unknown as Record<string, unknown>)[method] !== 'function') {
      fail(check, `${method}() is missing`);
    }
  }
}

/** The config the suite runs the plugin with passes validation. */
export async function checkConfigAccepted(plugin: AnyPlugin, config: unknown): Promise<void> {
  parseFor('config accepted', plugin, config);
}

/** (b) Each invalid config is refused with a ConfigError naming exactly the expected paths, all at once. */
export async function checkInvalidConfigs(
  plugin: AnyPlugin,
  invalidConfigs: readonly InvalidConfig[],
): Promise<void> {
  const check = 'invalid configs';
  if (invalidConfigs.length === 0) {
    fail(check, 'give at least one invalid config (and the paths its errors name)');
  }
  for (const [i, { config, paths }] of invalidConfigs.entries()) {
    let error: unknown;
    try {
      parseConfig(plugin.config, config, `${plugin.kind} "${plugin.name}"`);
    } catch (e) {
      error = e;
    }
    if (error === undefined) fail(check, `invalid config #${i} ${show(config)} was accepted`);
    const issues = (error as { issues?: unknown }).issues;
    if (!(error instanceof Error) || error.name !== 'ConfigError' || !Array.isArray(issues)) {
      fail(check, `invalid config #${i} was refused with ${errorMessage(error)}, not a ConfigError`);
    }
    const actual = [...new Set((issues as { path: string }[]).map((issue) => issue.path))].sort();
    const expected = [...new Set(paths)].sort();
    if (!isDeepStrictEqual(actual, expected)) {
      fail(
        check,
        `invalid config #${i} ${show(config)}: expected errors at ${show(expected)}, got ${show(actual)}\n${error.message}`,
      );
    }
  }
}

/* ------------------------------------------------------------------------------------------------
 * Schemas and events
 * --------------------------------------------------------------------------------------------- */

interface TypeView {
  readonly typeName: string;
  readonly name?: string | undefined;
  readonly fields?: readonly { readonly name: string; readonly type: AvroType }[];
  readonly types?: readonly AvroType[];
}

const view = (type: AvroType): TypeView => type as unknown as TypeView;

function parseSchema(check: string, what: string, schema: unknown): AvroType {
  try {
    return avroType(schema as AvroSchema);
  } catch (error) {
    return fail(check, `${what} does not parse as Avro: ${errorMessage(error)}`);
  }
}

/** The record inside `["null", record]`, or undefined when the type is not that. */
function nullableRecord(type: AvroType | undefined): TypeView | undefined {
  if (!type) return undefined;
  const branches = view(type).types;
  if (!branches || !branches.some((t) => view(t).typeName === 'null')) return undefined;
  const records = branches.filter((t) => view(t).typeName === 'record');
  return records.length === 1 ? view(records[0]!) : undefined;
}

/** What is wrong with a value schema that should be a change-event envelope. */
function envelopeProblems(value: AvroType): string[] {
  const fields = new Map((view(value).fields ?? []).map((f) => [f.name, f.type]));
  if (view(value).typeName !== 'record') return ['the value schema is not a record'];
  const problems: string[] = [];
  const before = nullableRecord(fields.get('before'));
  const after = nullableRecord(fields.get('after'));
  if (!before) problems.push('"before" is not a nullable record');
  if (!after) problems.push('"after" is not a nullable record');
  if (before && after && before.name !== after.name) {
    problems.push(`"before" (${before.name}) and "after" (${after.name}) are different records`);
  }
  const source = fields.get('source');
  if (!source || view(source).typeName !== 'record') problems.push('"source" is not a record');
  const op = fields.get('op');
  if (!op || view(op).typeName !== 'string') problems.push('"op" is not a string');
  const ts = fields.get('ts_ms');
  const tsName = ts ? view(ts).typeName : undefined;
  const tsNullableLong =
    ts && view(ts).types?.some((t) => view(t).typeName === 'long') && view(ts).types?.length === 2;
  if (tsName !== 'long' && !tsNullableLong) problems.push('"ts_ms" is not a long');
  return problems;
}

function schemaProblems(
  check: string,
  what: string,
  schemas: StreamSchemas,
): { key: AvroType; value: AvroType } {
  const key = parseSchema(check, `${what}: keySchema`, schemas.keySchema);
  const value = parseSchema(check, `${what}: valueSchema`, schemas.valueSchema);
  const problems = envelopeProblems(value);
  if (problems.length > 0) {
    fail(check, `${what}: valueSchema is not a change-event envelope: ${problems.join('; ')}`);
  }
  return { key, value };
}

function avroProblems(type: AvroType, value: unknown, label: string): string[] {
  const problems: string[] = [];
  type.isValid(value, {
    noUndeclaredFields: true,
    errorHook(path: string[], invalid: unknown, at: AvroType) {
      const where = [label, ...path].join('.');
      const declared = view(at).fields?.map((f) => f.name);
      const undeclared =
        declared && typeof invalid === 'object' && invalid !== null
          ? Object.keys(invalid).filter((k) => !declared.includes(k))
          : [];
      problems.push(
        undeclared.length > 0
          ? `${where} has fields the schema does not declare: ${undeclared.join(', ')}`
          : `${where} = ${show(invalid)} does not match ${view(at).name ?? view(at).typeName}`,
      );
    },
  });
  return problems;
}

const OP_RULES: Record<Operation, { before?: boolean; after?: boolean; text: string }> = {
  c: { before: false, after: true, text: 'a create has no "before" and an "after"' },
  r: { before: false, after: true, text: 'a read (snapshot) has no "before" and an "after"' },
  u: { after: true, text: 'an update has an "after"' },
  d: { after: false, text: 'a delete has no "after"' },
  t: { before: false, after: false, text: 'a truncate has neither "before" nor "after"' },
};

/** What is wrong with one event against its key and envelope types. */
function eventProblems(event: ChangeEvent, types: { key: AvroType; value: AvroType }): string[] {
  const problems = avroProblems(types.key, event.key, 'key');
  if (event.value === null) {
    if (event.key === null) problems.push('a tombstone (null value) without a key');
    return problems;
  }
  problems.push(...avroProblems(types.value, event.value, 'value'));
  const { op, before, after } = event.value;
  if (!OPERATIONS.includes(op)) {
    problems.push(`op "${String(op)}" is not one of ${OPERATIONS.join(', ')}`);
    return problems;
  }
  const rule = OP_RULES[op];
  if (
    (rule.before !== undefined && (before !== null) !== rule.before) ||
    (rule.after !== undefined && (after !== null) !== rule.after)
  ) {
    problems.push(
      `op "${op}" with before=${before === null ? 'null' : 'row'}, after=${after === null ? 'null' : 'row'}: ${rule.text}`,
    );
  }
  return problems;
}

/* ------------------------------------------------------------------------------------------------
 * Sources
 * --------------------------------------------------------------------------------------------- */

export interface SourceCheckOptions<S extends TSchema = TSchema> {
  readonly plugin: SourcePlugin<S>;
  /** The config input (defaults are applied), or a function returning it, evaluated per check after `setup`. */
  readonly config: unknown;
  /** How long the source may take to produce a batch (default 10 s). */
  readonly readTimeoutMs?: number;
}

export const SOURCE_CHECKS = [
  'branding',
  'config accepted',
  'invalid configs',
  'streams declared',
  'start and stop',
  'events match schemas',
  'crash before acknowledge',
  'restart resumes',
] as const;
export type SourceCheck = (typeof SOURCE_CHECKS)[number];

export interface SourceConformanceOptions<S extends TSchema = TSchema> extends SourceCheckOptions<S> {
  readonly invalidConfigs: readonly InvalidConfig[];
  /** Runs before each check that starts tasks (e.g. reset a table and a replication slot). */
  readonly setup?: () => void | Promise<void>;
  /** Runs after each check that starts tasks. */
  readonly teardown?: () => void | Promise<void>;
  /** Checks this source cannot pass, each with the reason; reported as skipped. None by default. */
  readonly waivers?: Partial<Record<SourceCheck, string>>;
}

interface RunningSource {
  readonly task: SourceTask;
  readonly ctx: TestContext;
}

type EmittedEvent = SourceBatch['events'][number];

async function startSource<S extends TSchema>(
  check: string,
  options: SourceCheckOptions<S>,
  config: Static<S>,
  from: Position | undefined,
): Promise<RunningSource> {
  const ctx = await createTestContext({ plugin: options.plugin.name, stage: 'conformance' });
  const task = await options.plugin.create(config, ctx);
  const timeout = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  await within(
    task.start(from),
    timeout,
    () => new ConformanceError(check, `start(${show(from)}) did not resolve within ${timeout} ms`),
  );
  return { task, ctx };
}

async function stopSource(check: string, { task, ctx }: RunningSource, timeout: number): Promise<void> {
  ctx.abortController.abort();
  await within(
    task.stop(),
    timeout,
    () => new ConformanceError(check, `stop() did not resolve within ${timeout} ms`),
  );
}

/** Starts a task, runs `body`, and stops the task whatever happens. */
async function withSource<S extends TSchema, T>(
  check: string,
  options: SourceCheckOptions<S>,
  config: Static<S>,
  from: Position | undefined,
  body: (running: RunningSource) => Promise<T>,
): Promise<T> {
  const running = await startSource(check, options, config, from);
  const timeout = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  let result: T;
  try {
    result = await body(running);
  } catch (error) {
    await stopSource(check, running, timeout).catch(() => undefined);
    throw error;
  }
  await stopSource(check, running, timeout);
  return result;
}

/** One read bounded by `ms`: the signal aborts at `ms`, and the read must return soon after. */
async function readOnce(check: string, task: SourceTask, ms: number): Promise<SourceBatch | undefined> {
  const signal = AbortSignal.timeout(Math.max(1, ms));
  return within(
    task.read(signal),
    ms + ABORT_GRACE_MS,
    () =>
      new ConformanceError(
        check,
        `read() did not return within ${ABORT_GRACE_MS} ms of its signal being aborted`,
      ),
  );
}

/** Reads until a batch with events arrives, or undefined after `ms`. */
async function readNonEmpty(check: string, task: SourceTask, ms: number): Promise<SourceBatch | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    const batch = await readOnce(check, task, left);
    if (batch && batch.events.length > 0) return batch;
    // A source that answers "nothing" at once would otherwise be polled in a tight loop.
    await new Promise((resolve) => setTimeout(resolve, Math.min(10, left)));
  }
}

/** Reads until at least `count` events arrived or `ms` passed. */
async function collectEvents(
  check: string,
  task: SourceTask,
  count: number,
  ms: number,
): Promise<EmittedEvent[]> {
  const events: EmittedEvent[] = [];
  const deadline = Date.now() + ms;
  while (events.length < count) {
    const batch = await readNonEmpty(check, task, deadline - Date.now());
    if (!batch) break;
    events.push(...batch.events);
  }
  return events;
}

async function firstBatch(
  check: string,
  task: SourceTask,
  timeout: number,
  from: string,
): Promise<SourceBatch> {
  const batch = await readNonEmpty(check, task, timeout);
  if (!batch) fail(check, `no events within ${timeout} ms of start(${from})`);
  return batch;
}

/** How an event is recognised across runs: its stream, key and op (timestamps differ between runs). */
function identity({ stream, event }: EmittedEvent): string {
  return `${stream} ${show(event.key)} ${event.value === null ? 'tombstone' : event.value.op}`;
}

/** The first index where `actual` differs from `expected`, comparing their common length. */
function firstDifference(actual: readonly EmittedEvent[], expected: readonly EmittedEvent[]): number {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) if (identity(actual[i]!) !== identity(expected[i]!)) return i;
  return -1;
}

/** (c) Streams are declared with unique names and key/value schemas that parse; values are envelopes. */
export async function checkStreamsDeclared<S extends TSchema>(options: SourceCheckOptions<S>): Promise<void> {
  const check = 'streams declared';
  const config = parseFor(check, options.plugin, options.config);
  const streams = await options.plugin.streams(config);
  if (streams.length === 0) fail(check, 'streams() declares no stream');
  const names = new Set<string>();
  for (const stream of streams) {
    if (typeof stream.name !== 'string' || stream.name === '') fail(check, 'a stream has no name');
    if (names.has(stream.name)) fail(check, `stream "${stream.name}" is declared twice`);
    names.add(stream.name);
    schemaProblems(check, `stream "${stream.name}"`, stream);
  }
}

/** (d) Starts from undefined, reads a non-empty batch in time, honours an aborted signal, stops cleanly. */
export async function checkStartStop<S extends TSchema>(options: SourceCheckOptions<S>): Promise<void> {
  const check = 'start and stop';
  const config = parseFor(check, options.plugin, options.config);
  const timeout = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  await withSource(check, options, config, undefined, async ({ task }) => {
    const batch = await firstBatch(check, task, timeout, 'undefined');
    if (
      typeof batch.position !== 'object' ||
      batch.position === null ||
      !isDeepStrictEqual(JSON.parse(JSON.stringify(batch.position)), batch.position)
    ) {
      fail(
        check,
        `the batch position ${show(batch.position)} is not a JSON object (the runtime stores it as JSON)`,
      );
    }
    const aborted = AbortSignal.abort();
    await within(
      task.read(aborted),
      ABORT_GRACE_MS,
      () =>
        new ConformanceError(
          check,
          `read() with an aborted signal did not return within ${ABORT_GRACE_MS} ms`,
        ),
    );
    // Aborted while it waits (or right after it returned, for a source with data at hand).
    const controller = new AbortController();
    const pending = task.read(controller.signal);
    const timer = setTimeout(() => controller.abort(), 20);
    await within(
      pending,
      20 + ABORT_GRACE_MS,
      () =>
        new ConformanceError(
          check,
          `read() did not return within ${ABORT_GRACE_MS} ms of its signal being aborted`,
        ),
    ).finally(() => clearTimeout(timer));
  });
}

/** (e) Every event matches its stream's key and value schemas (or is a keyed tombstone); ops fit before/after. */
export async function checkEventsMatchSchemas<S extends TSchema>(
  options: SourceCheckOptions<S>,
): Promise<void> {
  const check = 'events match schemas';
  const config = parseFor(check, options.plugin, options.config);
  const timeout = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const streams = new Map<string, { key: AvroType; value: AvroType }>();
  for (const stream of await options.plugin.streams(config)) {
    streams.set(stream.name, schemaProblems(check, `stream "${stream.name}"`, stream));
  }
  const events = await withSource(check, options, config, undefined, async ({ task }) => {
    const first = await firstBatch(check, task, timeout, 'undefined');
    // A few more batches if they come quickly: bigger samples find more.
    const more = await collectEvents(check, task, 500, Math.min(timeout, 1_000));
    return [...first.events, ...more];
  });
  const problems: string[] = [];
  for (const [i, { stream, event }] of events.entries()) {
    const types = streams.get(stream);
    const found = types ? eventProblems(event, types) : [`stream "${stream}" is not declared by streams()`];
    problems.push(...found.map((p) => `event #${i} (${stream}): ${p}`));
    if (problems.length >= 10) break;
  }
  if (problems.length > 0) {
    fail(check, `events do not match their declared schemas:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * (f) Crash before acknowledge ⇒ position not advanced. A batch is read and never acknowledged:
 * `releasedPosition()` must not move, and a new task started from undefined (the runtime stored
 * nothing) emits the same first events again — nothing is lost.
 */
export async function checkCrashBeforeAck<S extends TSchema>(options: SourceCheckOptions<S>): Promise<void> {
  const check = 'crash before acknowledge';
  const config = parseFor(check, options.plugin, options.config);
  const timeout = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const { released, batch } = await withSource(check, options, config, undefined, async ({ task }) => {
    const released = await task.releasedPosition?.();
    const batch = await firstBatch(check, task, timeout, 'undefined');
    if (task.releasedPosition) {
      const now = await task.releasedPosition();
      if (!isDeepStrictEqual(now, released)) {
        fail(
          check,
          `position advanced before acknowledge: releasedPosition() was ${show(released)} before the read and is ${show(now)} ` +
            `after reading a batch (position ${show(batch.position)}) that was never acknowledged. ` +
            'A source releases upstream log space in acknowledge() and nowhere else; a crash now would lose the batch.',
        );
      }
    }
    return { released, batch };
  });
  // The runtime never stored the position, so it restarts the source from undefined.
  await withSource(check, options, config, undefined, async ({ task }) => {
    if (task.releasedPosition) {
      const now = await task.releasedPosition();
      if (!isDeepStrictEqual(now, released)) {
        fail(
          check,
          `position advanced before acknowledge: after a task read a batch and stopped without acknowledging it, a new task ` +
            `reports releasedPosition() ${show(now)} instead of ${show(released)} (did stop() release the unacknowledged batch?)`,
        );
      }
    }
    const again = await collectEvents(check, task, batch.events.length, timeout);
    if (again.length < batch.events.length) {
      fail(
        check,
        `events lost after a crash before acknowledge: the first run read ${batch.events.length} events; a new task started from ` +
          `undefined emitted only ${again.length} within ${timeout} ms`,
      );
    }
    const i = firstDifference(again, batch.events);
    if (i >= 0) {
      fail(
        check,
        `events lost after a crash before acknowledge: event #${i} was ${identity(batch.events[i]!)} in the first run, but a new ` +
          `task started from undefined emitted ${identity(again[i]!)}`,
      );
    }
  });
}

/**
 * (g) Restart resumes: after acknowledging a batch, `releasedPosition()` equals its position, and a new
 * task started from it emits the events an uninterrupted task emits after that batch — not the batch again.
 */
export async function checkRestartResumes<S extends TSchema>(options: SourceCheckOptions<S>): Promise<void> {
  const check = 'restart resumes';
  const config = parseFor(check, options.plugin, options.config);
  const timeout = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  // What an uninterrupted task emits (never acknowledged, so the upstream keeps it for the runs below).
  const reference = await withSource(check, options, config, undefined, async ({ task }) => {
    const first = await firstBatch(check, task, timeout, 'undefined');
    const more = await collectEvents(check, task, 2 * first.events.length, Math.min(timeout, 2_000));
    return [...first.events, ...more];
  });
  const acknowledged = await withSource(check, options, config, undefined, async ({ task }) => {
    const batch = await firstBatch(check, task, timeout, 'undefined');
    const i = firstDifference(batch.events, reference);
    if (i >= 0) {
      fail(
        check,
        `two tasks started from undefined emitted different event #${i}: ${identity(reference[i]!)}, then ${identity(batch.events[i]!)}`,
      );
    }
    await task.acknowledge(batch.position);
    if (task.releasedPosition) {
      const released = await task.releasedPosition();
      if (!isDeepStrictEqual(released, batch.position)) {
        fail(check, `after acknowledge(${show(batch.position)}), releasedPosition() is ${show(released)}`);
      }
    }
    return batch;
  });
  const expected = reference.slice(acknowledged.events.length);
  const wanted = Math.max(1, Math.min(expected.length, acknowledged.events.length));
  const resumed = await withSource(check, options, config, acknowledged.position, ({ task }) =>
    collectEvents(check, task, wanted, expected.length > 0 ? timeout : Math.min(timeout, 1_000)),
  );
  // Starts like the acknowledged batch: the task went back to before the position it was given.
  const replayed = resumed.length > 0 && firstDifference(resumed, acknowledged.events) < 0;
  if (expected.length === 0) {
    // The upstream had nothing after the acknowledged batch: the resumed task may only bring new events.
    if (replayed) {
      fail(
        check,
        `a task started from the acknowledged position ${show(acknowledged.position)} emitted the acknowledged batch again`,
      );
    }
    return;
  }
  if (resumed.length === 0) {
    fail(
      check,
      `a task started from the acknowledged position ${show(acknowledged.position)} emitted nothing within ${timeout} ms; ` +
        `an uninterrupted task emits ${identity(expected[0]!)} next`,
    );
  }
  const i = firstDifference(resumed, expected);
  if (i >= 0) {
    if (replayed) {
      fail(
        check,
        `a task started from the acknowledged position ${show(acknowledged.position)} emitted the acknowledged batch again`,
      );
    }
    fail(
      check,
      `a task started from the acknowledged position ${show(acknowledged.position)} did not resume where it was: event #${i} after ` +
        `the batch is ${identity(resumed[i]!)}, but an uninterrupted task emits ${identity(expected[i]!)}`,
    );
  }
}

/* ------------------------------------------------------------------------------------------------
 * Processors
 * --------------------------------------------------------------------------------------------- */

export interface ProcessorCheckOptions<S extends TSchema = TSchema> {
  readonly plugin: ProcessorPlugin<S>;
  /** The config input (defaults are applied), or a function returning it. */
  readonly config: unknown;
  readonly inputs: readonly ProcessorInput[];
  /** Events to process, as from the first input (valid for its schemas when there is one input). */
  readonly events: readonly ChangeEvent[];
  /**
   * For processors with several inputs: batches to process in this order, each from a named input, instead of
   * `events`. Every output of every batch must match the planned schemas.
   */
  readonly batches?: readonly { readonly input: string; readonly events: readonly ChangeEvent[] }[];
  /** Input lists `plan` must refuse with a PlanError. */
  readonly badInputs?: readonly (readonly ProcessorInput[])[];
}

export const PROCESSOR_CHECKS = [
  'branding',
  'config accepted',
  'invalid configs',
  'plan',
  'consumed fields declared',
  'plan refuses bad inputs',
  'outputs match plan',
] as const;
export type ProcessorCheck = (typeof PROCESSOR_CHECKS)[number];

export interface ProcessorConformanceOptions<S extends TSchema = TSchema> extends ProcessorCheckOptions<S> {
  readonly invalidConfigs: readonly InvalidConfig[];
  readonly waivers?: Partial<Record<ProcessorCheck, string>>;
}

function planFor<S extends TSchema>(
  check: string,
  options: ProcessorCheckOptions<S>,
): { plan: ProcessorPlan; config: Static<S> } {
  const config = parseFor(check, options.plugin, options.config);
  let plan: ProcessorPlan;
  try {
    plan = options.plugin.plan(options.inputs, config);
  } catch (error) {
    return fail(check, `plan() refused the given inputs: ${errorMessage(error)}`);
  }
  return { plan, config };
}

/** `plan` returns parseable envelope schemas and lineage that refers to the given inputs. */
export async function checkProcessorPlan<S extends TSchema>(
  options: ProcessorCheckOptions<S>,
): Promise<void> {
  const check = 'plan';
  const { plan } = planFor(check, options);
  schemaProblems(check, 'the planned output', plan);
  if (!Array.isArray(plan.lineage)) fail(check, 'the plan has no lineage array');
  const names = new Set(options.inputs.map((input) => input.name));
  for (const [i, entry] of plan.lineage.entries()) {
    if (typeof entry.output !== 'string' || entry.output === '') {
      fail(check, `lineage #${i} names no output field`);
    }
    for (const source of entry.inputs) {
      if (!names.has(source.input)) {
        fail(
          check,
          `lineage of "${entry.output}" refers to input "${source.input}", which is not one of ${show([...names])}`,
        );
      }
      if (typeof source.field !== 'string' || source.field === '') {
        fail(check, `lineage of "${entry.output}" names no input field`);
      }
    }
  }
}

const ENVELOPE_FIELDS = new Set(['before', 'after', 'op', 'source', 'ts_ms']);

/**
 * `plan` lists the input fields it reads (`consumes`), each naming one of the inputs and a field the input has:
 * `op`, `ts_ms`, `source.<field>`, `before.<column>` or `after.<column>` (nested paths below a column allowed).
 */
export async function checkProcessorConsumes<S extends TSchema>(
  options: ProcessorCheckOptions<S>,
): Promise<void> {
  const check = 'consumed fields declared';
  const { plan } = planFor(check, options);
  if (!Array.isArray(plan.consumes)) {
    fail(check, 'the plan has no `consumes` array: list every input field the processor reads');
  }
  const inputs = new Map(options.inputs.map((input) => [input.name, input]));
  for (const [i, consumed] of plan.consumes!.entries()) {
    const input = inputs.get(consumed.input);
    if (!input) {
      fail(
        check,
        `consumes #${i} names input "${consumed.input}", which is not one of ${show([...inputs.keys()])}`,
      );
    }
    const [head, column] = String(consumed.field).split('.');
    if (!ENVELOPE_FIELDS.has(head!)) {
      fail(
        check,
        `consumes #${i} names "${consumed.field}", which is not under ${show([...ENVELOPE_FIELDS])}`,
      );
    }
    if (head === 'before' || head === 'after') {
      const columns = recordFields(rowSchemaOf(input!.valueSchema)).map((f) => f.name);
      if (column === undefined || !columns.includes(column)) {
        fail(
          check,
          `consumes #${i} names "${consumed.field}", but ${input!.name} has no column "${column ?? ''}"`,
        );
      }
    }
  }
}

/** `plan` throws a PlanError for each list of bad inputs. */
export async function checkProcessorBadInputs<S extends TSchema>(
  options: ProcessorCheckOptions<S>,
): Promise<void> {
  const check = 'plan refuses bad inputs';
  const config = parseFor(check, options.plugin, options.config);
  for (const [i, inputs] of (options.badInputs ?? []).entries()) {
    let error: unknown;
    try {
      options.plugin.plan(inputs, config);
    } catch (e) {
      error = e;
    }
    const names = show(inputs.map((input) => input.name));
    if (error === undefined) fail(check, `plan() accepted bad inputs #${i} ${names}`);
    if (!(error instanceof Error) || error.name !== 'PlanError') {
      fail(check, `plan() refused bad inputs #${i} ${names} with ${errorMessage(error)}, not a PlanError`);
    }
  }
}

/** The processed `events` match the planned output schemas; the input events are left as they were. */
export async function checkProcessorOutputs<S extends TSchema>(
  options: ProcessorCheckOptions<S>,
): Promise<void> {
  const check = 'outputs match plan';
  const { plan, config } = planFor(check, options);
  if ((options.batches ?? [{ events: options.events }]).every((b) => b.events.length === 0)) {
    fail(check, 'give at least one event to process');
  }
  const [only] = options.inputs;
  if (only && options.inputs.length === 1) {
    const types = schemaProblems(check, `input "${only.name}"`, only);
    for (const [i, event] of options.events.entries()) {
      const problems = eventProblems(event, types);
      if (problems.length > 0) {
        fail(check, `the suite's event #${i} does not match input "${only.name}": ${problems.join('; ')}`);
      }
    }
  }
  const types = schemaProblems(check, 'the planned output', plan);
  const ctx = await createTestContext({
    plugin: options.plugin.name,
    stage: 'conformance',
    inputs: options.inputs,
  });
  const task = await options.plugin.create(config, ctx);
  const batches = options.batches ?? [{ input: only?.name ?? 'input', events: options.events }];
  const original = structuredClone(batches);
  const outputs: ChangeEvent[] = [];
  try {
    for (const batch of batches) outputs.push(...(await task.process(batch.events, batch.input)));
  } finally {
    await task.close?.();
    ctx.abortController.abort();
  }
  if (!isDeepStrictEqual(batches, original)) {
    fail(check, 'process() changed its input events (they may be shared with other stages)');
  }
  const problems: string[] = [];
  for (const [i, event] of outputs.entries()) {
    problems.push(...eventProblems(event, types).map((p) => `output #${i}: ${p}`));
  }
  if (problems.length > 0) {
    fail(check, `outputs do not match the planned schemas:\n  - ${problems.slice(0, 10).join('\n  - ')}`);
  }
}

/* ------------------------------------------------------------------------------------------------
 * Sinks
 * --------------------------------------------------------------------------------------------- */

export interface SinkCheckOptions<S extends TSchema = TSchema> {
  readonly plugin: SinkPlugin<S>;
  /** Returns a fresh config input per check (e.g. a new temporary path). */
  readonly config: () => unknown;
  readonly records: readonly SinkRecord[];
  /** What the external system holds for `config`, one item per stored record. */
  readonly readBack: (config: Static<S>) => Promise<readonly unknown[]>;
  /** How many items `readBack` returns after all records are written (default: one per record; upserting sinks say less). */
  readonly expectedCount?: number;
}

export const SINK_CHECKS = [
  'branding',
  'config accepted',
  'invalid configs',
  'flush makes records visible',
  'replay after crash adds no duplicates',
] as const;
export type SinkCheck = (typeof SINK_CHECKS)[number];

export interface SinkConformanceOptions<S extends TSchema = TSchema> extends SinkCheckOptions<S> {
  readonly invalidConfigs: readonly InvalidConfig[];
  /** The sink claims idempotent writes: a replay after a crash changes nothing. */
  readonly idempotent?: boolean;
  readonly waivers?: Partial<Record<SinkCheck, string>>;
}

async function createSink<S extends TSchema>(options: SinkCheckOptions<S>, config: Static<S>) {
  const ctx = await createTestContext({ plugin: options.plugin.name, stage: 'conformance' });
  return { task: await options.plugin.create(config, ctx), ctx };
}

/** write + flush makes every record visible through `readBack`. */
export async function checkSinkFlush<S extends TSchema>(options: SinkCheckOptions<S>): Promise<void> {
  const check = 'flush makes records visible';
  const config = parseFor(check, options.plugin, options.config);
  if (options.records.length === 0) fail(check, 'give at least one record');
  const { task, ctx } = await createSink(options, config);
  try {
    await task.write(options.records);
    await task.flush();
  } finally {
    await task.close?.();
    ctx.abortController.abort();
  }
  const stored = await options.readBack(config);
  const expected = options.expectedCount ?? options.records.length;
  if (stored.length !== expected) {
    fail(check, `after write and flush, readBack() returned ${stored.length} items, expected ${expected}`);
  }
}

/**
 * A crash between write and flush, then a new instance replaying every record and flushing, leaves
 * each record stored once: nothing lost, nothing twice.
 */
export async function checkSinkReplay<S extends TSchema>(options: SinkCheckOptions<S>): Promise<void> {
  const check = 'replay after crash adds no duplicates';
  const config = parseFor(check, options.plugin, options.config);
  if (options.records.length < 2) fail(check, 'give at least two records');
  const half = Math.floor(options.records.length / 2);
  const crashed = await createSink(options, config);
  try {
    await crashed.task.write(options.records.slice(0, half));
    await crashed.task.flush();
    // Written, never flushed: the instance crashes here. The runtime replays from its last commit,
    // which may be before the flushed half too (a crash between flush and commit).
    await crashed.task.write(options.records.slice(half));
    const restarted = await createSink(options, config);
    try {
      await restarted.task.write(options.records);
      await restarted.task.flush();
    } finally {
      await restarted.task.close?.();
      restarted.ctx.abortController.abort();
    }
    const stored = await options.readBack(config);
    const expected = options.expectedCount ?? options.records.length;
    if (stored.length > expected) {
      fail(
        check,
        `after a crash and a replay, readBack() returned ${stored.length} items, expected ${expected}: duplicates`,
      );
    }
    if (stored.length < expected) {
      fail(
        check,
        `after a crash and a replay, readBack() returned ${stored.length} items, expected ${expected}: records lost`,
      );
    }
  } finally {
    // Only to free its resources; a crashed instance never runs again.
    await crashed.task.close?.().catch(() => undefined);
    crashed.ctx.abortController.abort();
  }
}

/* ------------------------------------------------------------------------------------------------
 * vitest suites
 * --------------------------------------------------------------------------------------------- */

type Check = () => Promise<void>;

/** Registers one check as a test, or as a skipped one that says why when it is waived. */
function register<C extends string>(
  id: C,
  waivers: Partial<Record<C, string>> | undefined,
  run: Check,
  timeout?: number,
): void {
  const reason = waivers?.[id];
  if (reason !== undefined) it.skip(`${id} (waived: ${reason})`, () => undefined);
  else it(id, { ...(timeout === undefined ? {} : { timeout }) }, run);
}

/** Waivers must name real checks and give a reason: a typo must not silently waive nothing. */
function checkWaivers(
  known: readonly string[],
  waivers: Readonly<Record<string, string | undefined>> | undefined,
): void {
  for (const [id, reason] of Object.entries(waivers ?? {})) {
    if (!known.includes(id)) {
      throw new Error(`waiver for unknown check "${id}"; the checks are: ${known.join(', ')}`);
    }
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new Error(`waiver for "${id}" gives no reason`);
    }
  }
}

/** The source conformance suite: branding, configs, streams, start/stop, schemas, crash before ack, restart. */
export function describeSourceConformance<S extends TSchema>(
  name: string,
  options: SourceConformanceOptions<S>,
): void {
  checkWaivers(SOURCE_CHECKS, options.waivers);
  const timeout = (options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS) * 8 + 10_000;
  const running =
    (check: Check): Check =>
    async () => {
      await options.setup?.();
      try {
        await check();
      } finally {
        await options.teardown?.();
      }
    };
  describe(`${name}: source conformance`, () => {
    register('branding', options.waivers, () => checkBranding(options.plugin, 'source'));
    register('config accepted', options.waivers, () => checkConfigAccepted(options.plugin, options.config));
    register('invalid configs', options.waivers, () =>
      checkInvalidConfigs(options.plugin, options.invalidConfigs),
    );
    register('streams declared', options.waivers, () => checkStreamsDeclared(options));
    register(
      'start and stop',
      options.waivers,
      running(() => checkStartStop(options)),
      timeout,
    );
    register(
      'events match schemas',
      options.waivers,
      running(() => checkEventsMatchSchemas(options)),
      timeout,
    );
    register(
      'crash before acknowledge',
      options.waivers,
      running(() => checkCrashBeforeAck(options)),
      timeout,
    );
    register(
      'restart resumes',
      options.waivers,
      running(() => checkRestartResumes(options)),
      timeout,
    );
  });
}

/** The processor conformance suite: branding, configs, plan, bad wiring, outputs against the plan. */
export function describeProcessorConformance<S extends TSchema>(
  name: string,
  options: ProcessorConformanceOptions<S>,
): void {
  const waivers: Partial<Record<ProcessorCheck, string>> = {
    ...(options.badInputs && options.badInputs.length > 0
      ? {}
      : { 'plan refuses bad inputs': 'no badInputs given' }),
    ...options.waivers,
  };
  checkWaivers(PROCESSOR_CHECKS, options.waivers);
  describe(`${name}: processor conformance`, () => {
    register('branding', waivers, () => checkBranding(options.plugin, 'processor'));
    register('config accepted', waivers, () => checkConfigAccepted(options.plugin, options.config));
    register('invalid configs', waivers, () => checkInvalidConfigs(options.plugin, options.invalidConfigs));
    register('plan', waivers, () => checkProcessorPlan(options));
    register('consumed fields declared', waivers, () => checkProcessorConsumes(options));
    register('plan refuses bad inputs', waivers, () => checkProcessorBadInputs(options));
    register('outputs match plan', waivers, () => checkProcessorOutputs(options));
  });
}

/** The sink conformance suite: branding, configs, flush visibility, and (when idempotent) crash + replay. */
export function describeSinkConformance<S extends TSchema>(
  name: string,
  options: SinkConformanceOptions<S>,
): void {
  const waivers: Partial<Record<SinkCheck, string>> = {
    ...(options.idempotent
      ? {}
      : { 'replay after crash adds no duplicates': 'the sink does not claim idempotent writes' }),
    ...options.waivers,
  };
  checkWaivers(SINK_CHECKS, options.waivers);
  describe(`${name}: sink conformance`, () => {
    register('branding', waivers, () => checkBranding(options.plugin, 'sink'));
    register('config accepted', waivers, () => checkConfigAccepted(options.plugin, options.config));
    register('invalid configs', waivers, () => checkInvalidConfigs(options.plugin, options.invalidConfigs));
    register('flush makes records visible', waivers, () => checkSinkFlush(options));
    register('replay after crash adds no duplicates', waivers, () => checkSinkReplay(options));
  });
}
