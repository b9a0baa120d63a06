// Apache Iceberg REST catalog on 127.0.0.1:58181: the RESTCatalogServer test fixture of apache/iceberg 1.11.0
// (iceberg-open-api's test-fixtures jar) backed by a JdbcCatalog in a SQLite file and a local file:// warehouse,
// both under tools/services/.data/iceberg-rest. Jars come from Maven Central: since 1.10.2 Iceberg no longer
// publishes the fat runtime jar, so the fixture is put together from iceberg-core (+ its tests jar, which holds
// RESTCatalogAdapter/RESTCatalogServlet), Jetty 12 ee10, sqlite-jdbc and hadoop-common with the exclusions of
// Iceberg's own build. The fixture's main binds every interface; a small launcher
// (iceberg-rest/LoopbackRESTCatalogServer.java, compiled at install) serves the fixture on 127.0.0.1 only.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  canConnect,
  httpGet,
  logFile,
  runningAndReady,
  runningPid,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from './lib/daemon.mjs';
import { compileLauncher, java17, launcherCompiled, resolveJars } from './lib/maven.mjs';
import { cacheDir, dataDir, dataRoot, logDir } from './lib/paths.mjs';
import { assertPortFree } from './lib/ports.mjs';
import { log } from './lib/system.mjs';

export const name = 'iceberg-rest';
export const description =
  'Apache Iceberg 1.11 REST catalog (test fixture: SQLite JDBC catalog, file:// warehouse) on 127.0.0.1:58181';

const HOST = '127.0.0.1';
const PORT = 58181;
const ICEBERG_VERSION = '1.11.0';
// Versions Iceberg 1.11.0 builds its fixture with (gradle/libs.versions.toml at apache-iceberg-1.11.0).
const JETTY_VERSION = '12.1.8';
const HADOOP_VERSION = '3.4.3';
const SQLITE_JDBC_VERSION = '3.53.0.0';
const SLF4J_VERSION = '2.0.17';
const MAIN_CLASS = 'org.apache.iceberg.rest.LoopbackRESTCatalogServer';
const MAIN_SOURCE = join(
  dirname(fileURLToPath(import.meta.url)),
  'iceberg-rest',
  'LoopbackRESTCatalogServer.java',
);
const READY_TIMEOUT_MS = 120_000;

const WAREHOUSE = join(dataRoot, name, 'warehouse');

export const endpoint = { url: `http://${HOST}:${PORT}`, warehouse: WAREHOUSE };

const iceberg = (artifactId, classifier) => ({
  groupId: 'org.apache.iceberg',
  artifactId,
  version: ICEBERG_VERSION,
  ...(classifier ? { classifier } : {}),
});

const DEPENDENCIES = [
  iceberg('iceberg-open-api', 'test-fixtures'),
  iceberg('iceberg-core'),
  // RESTCatalogAdapter, RESTCatalogServlet and Route live in iceberg-core's tests jar.
  iceberg('iceberg-core', 'tests'),
  { groupId: 'org.eclipse.jetty.ee10', artifactId: 'jetty-ee10-servlet', version: JETTY_VERSION },
  {
    groupId: 'org.eclipse.jetty.compression',
    artifactId: 'jetty-compression-server',
    version: JETTY_VERSION,
  },
  { groupId: 'org.eclipse.jetty.compression', artifactId: 'jetty-compression-gzip', version: JETTY_VERSION },
  { groupId: 'org.xerial', artifactId: 'sqlite-jdbc', version: SQLITE_JDBC_VERSION },
  {
    groupId: 'org.apache.hadoop',
    artifactId: 'hadoop-common',
    version: HADOOP_VERSION,
    // What Iceberg's build.gradle excludes from hadoop-common for the open-api test fixtures.
    exclusions: [
      'org.slf4j:*',
      'ch.qos.reload4j:*',
      'org.apache.avro:avro',
      'com.google.guava:*',
      'com.google.protobuf:*',
      'org.apache.curator:*',
      'org.apache.zookeeper:*',
      'org.apache.kerby:*',
      'org.apache.hadoop.thirdparty:hadoop-shaded-protobuf_3_7',
      'org.eclipse.jetty:*',
      'com.google.re2j:re2j',
      'com.google.code.gson:gson',
      'com.jcraft:jsch',
      'com.google.code.findbugs:jsr305',
      'io.dropwizard.metrics:metrics-core',
      'dnsjava:dnsjava',
      'org.xerial.snappy:snappy-java',
      'commons-cli:commons-cli',
      'com.github.pjfanning:jersey-json',
    ],
  },
  { groupId: 'org.slf4j', artifactId: 'slf4j-simple', version: SLF4J_VERSION },
];

// Maven takes the nearest version of a transitive artifact, so hadoop-common's older commons-* would win over
// iceberg-core's; Gradle (Iceberg's build) takes the highest. Pin iceberg-core's.
const MANAGED = [
  { groupId: 'commons-io', artifactId: 'commons-io', version: '2.20.0' },
  { groupId: 'commons-codec', artifactId: 'commons-codec', version: '1.19.0' },
  { groupId: 'org.apache.commons', artifactId: 'commons-compress', version: '1.28.0' },
];

function paths() {
  const data = dataDir(name);
  return {
    lib: join(cacheDir(name), 'lib'),
    classes: join(cacheDir(name), 'launcher'),
    catalogDb: join(data, 'catalog.db'),
    warehouse: WAREHOUSE,
    tmp: join(data, 'tmp'),
    logs: logDir(name),
  };
}

function installed() {
  const { lib, classes } = paths();
  return (
    existsSync(join(lib, '.resolved')) &&
    launcherCompiled({ source: MAIN_SOURCE, classes }) &&
    existsSync(join(classes, ...MAIN_CLASS.split('.')) + '.class')
  );
}

export async function install() {
  const lib = resolveJars(name, { dependencies: DEPENDENCIES, managed: MANAGED });
  const { classes } = paths();
  if (!launcherCompiled({ source: MAIN_SOURCE, classes })) {
    compileLauncher(name, { source: MAIN_SOURCE, lib, classes, release: 17, java: java17() });
  }
  const jars = readdirSync(lib).filter((f) => f.endsWith('.jar')).length;
  log(name, `installed: Iceberg ${ICEBERG_VERSION} REST catalog fixture, ${jars} jars (${lib})`);
}

/** GET /v1/config: { status, config } where config is the parsed body of a 200 answer. */
async function catalogConfig() {
  const response = await httpGet(`${endpoint.url}/v1/config`);
  if (response === undefined) return undefined;
  let config;
  try {
    config = response.status === 200 ? JSON.parse(response.body) : undefined;
  } catch {
    config = undefined;
  }
  return { status: response.status, config };
}

/** True when the server answers GET /v1/config with 200 and a catalog config (defaults/overrides). */
async function ready() {
  const answer = await catalogConfig();
  return answer?.status === 200 && typeof answer.config?.overrides === 'object';
}

export async function up() {
  if (!installed()) await install();
  if (
    await runningAndReady(name, endpoint.url, `GET ${endpoint.url}/v1/config answers 200`, ready, {
      timeoutMs: READY_TIMEOUT_MS,
    })
  )
    return;
  await assertPortFree(name, PORT, HOST);
  const p = paths();
  for (const dir of [p.warehouse, p.tmp]) mkdirSync(dir, { recursive: true });
  const started = Date.now();
  startDaemon(
    name,
    java17(),
    [
      '-Xms64m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      '-XX:+ExitOnOutOfMemoryError',
      '-Dfile.encoding=UTF-8',
      // sqlite-jdbc unpacks its native library here.
      `-Djava.io.tmpdir=${p.tmp}`,
      `-Ddatamesh.rest.host=${HOST}`,
      // An IPv4 socket: the listener shows as 127.0.0.1:58181, not as the IPv4-mapped [::ffff:127.0.0.1].
      '-Djava.net.preferIPv4Stack=true',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
      '-cp',
      [p.classes, join(p.lib, '*')].join(':'),
      MAIN_CLASS,
    ],
    {
      cwd: dataDir(name),
      // Read by the fixture (RCKUtils.environmentCatalogConfig): CATALOG_A_B__C is catalog property a.b-c.
      env: {
        CATALOG_CATALOG__IMPL: 'org.apache.iceberg.jdbc.JdbcCatalog',
        CATALOG_URI: `jdbc:sqlite:${p.catalogDb}`,
        CATALOG_JDBC_STRICT__MODE: 'true',
        CATALOG_WAREHOUSE: `file://${p.warehouse}`,
        CATALOG_REST_PORT: String(PORT),
      },
    },
  );
  await waitUntilReady(name, `GET ${endpoint.url}/v1/config answers 200`, ready, {
    timeoutMs: READY_TIMEOUT_MS,
  });
  log(name, `up in ${((Date.now() - started) / 1000).toFixed(1)} s; warehouse: ${p.warehouse}`);
}

export async function down() {
  await stopDaemon(name, { timeoutMs: 20_000 });
}

export async function status() {
  try {
    const pid = runningPid(name);
    const answer = await catalogConfig();
    if (answer !== undefined) {
      if (answer.status !== 200 || typeof answer.config?.overrides !== 'object') {
        return {
          ok: false,
          detail: `something answers on ${endpoint.url} but GET /v1/config gives ${answer.status}, not an Iceberg catalog config`,
        };
      }
      if (pid === undefined) {
        return {
          ok: false,
          detail:
            `an Iceberg REST catalog answers on ${endpoint.url} but this harness did not start it ` +
            `(its warehouse is not known to be ${WAREHOUSE}); stop it, then: npm run services -- up ${name}`,
        };
      }
      return {
        ok: true,
        detail: `Iceberg ${ICEBERG_VERSION} REST catalog at ${endpoint.url} (pid ${pid}), warehouse ${WAREHOUSE}`,
      };
    }
    if (pid !== undefined) {
      return {
        ok: false,
        detail: `pid ${pid} is running but ${endpoint.url} does not answer yet (log: ${logFile(name)})`,
      };
    }
    if (await canConnect(PORT, HOST)) {
      return {
        ok: false,
        detail: `port ${PORT} on ${HOST} is in use by another process that does not answer HTTP`,
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
