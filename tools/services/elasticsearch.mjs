// Elasticsearch 8.19, one reduced node, plain HTTP on 127.0.0.1:59201 (transport 59301), no x-pack.
// Elastic publishes the server (org.elasticsearch:elasticsearch) and the transport-netty4 plugin on Maven Central,
// but none of the other modules a distribution loads from <home>/modules (rest-root, painless, analysis-common,
// mapper-extras, reindex, aggregations, data streams, ingest-common, x-pack, ...). So the node runs from exactly those
// jars, started by a small launcher in package org.elasticsearch.node (elasticsearch/DatameshElasticsearchNode.java,
// compiled at install) that hands the package-private NodeConstruction the netty4 plugin from the class path, plus a
// GET / handler answering as rest-root does. See the comment there and the README's section for what is missing.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  logFile,
  runningAndReady,
  runningPid,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from './lib/daemon.mjs';
import { compileLauncher, java17, launcherCompiled, resolveJars } from './lib/maven.mjs';
import { cacheDir, dataDir, logDir } from './lib/paths.mjs';
import { assertPortFree } from './lib/ports.mjs';
import { log } from './lib/system.mjs';

export const name = 'elasticsearch';
export const description =
  'Elasticsearch 8.19 reduced single node (server + netty4 from Maven Central; no x-pack, painless, ' +
  'analysis-common, mapper-extras), HTTP on 127.0.0.1:59201';

const HOST = '127.0.0.1';
const HTTP_PORT = 59201;
const TRANSPORT_PORT = 59301;
const CLUSTER_NAME = 'datamesh';
const NODE_NAME = 'datamesh-es';
const VERSION = '8.19.0';
const ARTIFACTS = [
  { groupId: 'org.elasticsearch', artifactId: 'elasticsearch', version: VERSION },
  // Its POM brings netty and elasticsearch-ssl-config only (not the test framework).
  { groupId: 'org.elasticsearch.plugin', artifactId: 'transport-netty4', version: VERSION },
];
const MAIN_CLASS = 'org.elasticsearch.node.DatameshElasticsearchNode';
const MAIN_SOURCE = join(
  dirname(fileURLToPath(import.meta.url)),
  'elasticsearch',
  'DatameshElasticsearchNode.java',
);
const READY_TIMEOUT_MS = 240_000;

export const endpoint = { url: `http://${HOST}:${HTTP_PORT}` };

function paths() {
  const data = dataDir(name);
  return {
    lib: join(cacheDir(name), 'lib'),
    classes: join(cacheDir(name), 'launcher'),
    home: join(data, 'home'),
    config: join(data, 'config'),
    data: join(data, 'data'),
    logs: logDir(name),
    tmp: join(data, 'tmp'),
  };
}

function installed() {
  const { lib, classes } = paths();
  return (
    existsSync(join(lib, '.resolved')) &&
    existsSync(join(classes, ...MAIN_CLASS.split('.')) + '.class') &&
    launcherCompiled({ source: MAIN_SOURCE, classes })
  );
}

export async function install() {
  const lib = resolveJars(name, { dependencies: ARTIFACTS });
  const { classes } = paths();
  compileLauncher(name, { source: MAIN_SOURCE, lib, classes, release: 17, java: java17() });
  const jars = readdirSync(lib).filter((f) => f.endsWith('.jar')).length;
  log(name, `installed: elasticsearch-${VERSION} and transport-netty4-${VERSION}, ${jars} jars (${lib})`);
}

// Written before every start: the launcher reads every setting from this file (none on the command line).
// No xpack.* setting may appear: without x-pack such settings are unknown and the node refuses to start.
function writeConfig(p) {
  mkdirSync(p.config, { recursive: true });
  writeFileSync(
    join(p.config, 'elasticsearch.yml'),
    [
      '# Written by tools/services/elasticsearch.mjs before each start; edits are lost.',
      `cluster.name: ${CLUSTER_NAME}`,
      `node.name: ${NODE_NAME}`,
      // Without x-pack the ml and transform roles (the server's defaults) mean nothing.
      'node.roles: [ master, data, ingest ]',
      `path.home: ${p.home}`,
      `path.data: ${p.data}`,
      `path.logs: ${p.logs}`,
      `network.host: ${HOST}`,
      `http.port: ${HTTP_PORT}`,
      `transport.port: ${TRANSPORT_PORT}`,
      'discovery.type: single-node',
      // A test node on a shared disk: never stop allocating shards or make indices read-only for disk space, and
      // never hold merges back for it (0 turns the merge scheduler's disk check off).
      'cluster.routing.allocation.disk.threshold_enabled: false',
      'indices.merge.disk.check_interval: 0',
      '',
    ].join('\n'),
  );
  // Console only: the daemon's log file gets everything; nothing is written under logs/.
  writeFileSync(
    join(p.config, 'log4j2.properties'),
    [
      'status = error',
      'appender.console.type = Console',
      'appender.console.name = console',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n',
      'rootLogger.level = info',
      'rootLogger.appenderRef.console.ref = console',
      // Deprecation warnings also reach the client as Warning headers.
      'logger.deprecation.name = org.elasticsearch.deprecation',
      'logger.deprecation.level = error',
      '',
    ].join('\n'),
  );
}

/** GET `path` on the node: { status, headers, body } (body parsed when JSON), or undefined when nothing answers. */
async function request(path) {
  try {
    const response = await fetch(`${endpoint.url}${path}`, {
      signal: AbortSignal.timeout(2000),
      headers: { accept: 'application/json' },
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, body };
  } catch {
    return undefined;
  }
}

async function health() {
  const response = await request('/_cluster/health');
  return response?.status === 200 ? response.body?.status : undefined;
}

async function healthy() {
  const state = await health();
  return state === 'green' || state === 'yellow';
}

export async function up() {
  if (!installed()) await install();
  if (
    await runningAndReady(name, endpoint.url, 'cluster health green or yellow', healthy, {
      timeoutMs: READY_TIMEOUT_MS,
    })
  )
    return;
  for (const port of [HTTP_PORT, TRANSPORT_PORT]) await assertPortFree(name, port, HOST);
  const p = paths();
  writeConfig(p);
  for (const dir of [p.home, p.data, p.tmp]) mkdirSync(dir, { recursive: true });
  const started = Date.now();
  startDaemon(
    name,
    java17(),
    [
      '-Xms512m',
      '-Xmx1g',
      // C1 only: starts in about two thirds of the time (9-11 s instead of 14-19 s on the loaded 2-core machine);
      // slower at steady state, which a test node does not need. Drop it to measure throughput.
      '-XX:TieredStopAtLevel=1',
      // From the distribution's jvm.options and system JVM options.
      '-XX:+UseG1GC',
      '-Xss1m',
      '-XX:-OmitStackTraceInFastThrow',
      '-Djava.awt.headless=true',
      '-Dfile.encoding=UTF-8',
      '-Djna.nosys=true',
      '-Dio.netty.noUnsafe=true',
      '-Dio.netty.noKeySetOptimization=true',
      '-Dio.netty.recycler.maxCapacityPerThread=0',
      '-Dlog4j.shutdownHookEnabled=false',
      '-Dlog4j2.disable.jmx=true',
      '-Dlog4j2.formatMsgNoLookups=true',
      // As the distribution on its bundled JDK (23+): CLDR locale data, and SPI for the server's ISO calendar
      // provider (weeks start on Monday).
      '-Djava.locale.providers=SPI,CLDR',
      `-Djava.io.tmpdir=${p.tmp}`,
      '-cp',
      [p.classes, join(p.lib, '*')].join(':'),
      MAIN_CLASS,
      p.config,
    ],
    { cwd: p.home },
  );
  await waitUntilReady(name, `cluster health green or yellow at ${endpoint.url}`, healthy, {
    timeoutMs: READY_TIMEOUT_MS,
  });
  log(name, `up in ${((Date.now() - started) / 1000).toFixed(1)} s; log: ${logFile(name)}`);
}

export async function down() {
  await stopDaemon(name, { timeoutMs: 30_000 });
}

export async function status() {
  try {
    const pid = runningPid(name);
    const root = await request('/');
    if (root !== undefined) {
      const product = root.headers.get('x-elastic-product');
      const version = root.body?.version?.number;
      if (product !== 'Elasticsearch' || root.status !== 200 || typeof version !== 'string') {
        return {
          ok: false,
          detail: `something answers on ${endpoint.url} but it is not this Elasticsearch node (GET / gave ${root.status}, x-elastic-product ${product ?? 'missing'})`,
        };
      }
      const state = await health();
      const who = pid === undefined ? 'not started by this harness' : `pid ${pid}`;
      const ready = state === 'green' || state === 'yellow';
      return {
        ok: ready,
        detail: `Elasticsearch ${version} (reduced node, no x-pack) at ${endpoint.url}, cluster ${state ?? 'health unknown'} (${who})`,
      };
    }
    if (pid !== undefined) {
      return {
        ok: false,
        detail: `pid ${pid} is running but ${endpoint.url} does not answer yet (log: ${logFile(name)})`,
      };
    }
    if (!installed()) {
      return { ok: false, detail: `not installed (run: npm run services -- install ${name})` };
    }
    return { ok: false, detail: `installed, not running (run: npm run services -- up ${name})` };
  } catch (error) {
    return { ok: false, detail: `status failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
