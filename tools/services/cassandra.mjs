// Apache Cassandra 5.0, one node on 127.0.0.1, from Maven Central jars, run on Java 17 (5.0 supports 11 and 17;
// Java 24+ cannot run it: it calls System.setSecurityManager). CDC is on: commitlog segments of tables created
// `WITH cdc = true` are hard-linked into `cdc_raw` with a `_cdc.idx` next to them, which our CDC connector
// reads. No JMX (so no nodetool); readiness is a real CQL query (`SELECT release_version FROM system.local`).
import { Buffer } from 'node:buffer';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { ServiceError, capture, log } from './lib/system.mjs';
import { canConnect, runningPid, startDaemon, stopDaemon, waitUntilReady } from './lib/daemon.mjs';
import { findJar, javaBinary, resolveJars } from './lib/maven.mjs';
import { cacheRoot, dataDir, logDir } from './lib/paths.mjs';

export const name = 'cassandra';
export const description = 'Apache Cassandra 5.0 (single node, CDC enabled, CQL on 127.0.0.1:59042)';

const VERSION = '5.0.9';
const HOST = '127.0.0.1';
const PORTS = { cql: 59042, storage: 57000, sslStorage: 57001 };
const DATA_CENTER = 'datacenter1';
const HEAP = { initial: '256m', max: '1g' };

export const endpoint = {
  host: HOST,
  port: PORTS.cql,
  localDataCenter: DATA_CENTER,
  cdcRawDir: join(dataDir(name), 'cdc_raw'),
};

const libDir = join(cacheRoot, name, 'lib');

function jars() {
  return resolveJars(name, {
    dependencies: [
      {
        groupId: 'org.apache.cassandra',
        artifactId: 'cassandra-all',
        version: VERSION,
        // Not needed by a Linux server: macOS-only netty natives, and the sjk profiler behind `nodetool sjk`.
        exclusions: [
          'io.netty:netty-transport-native-kqueue',
          'io.netty:netty-resolver-dns-native-macos',
          'org.gridkit.jvmtool:*',
          'org.perfkit.sjk.parsers:*',
        ],
      },
    ],
  });
}

function javaMajor(binary) {
  const { stderr } = capture(binary, ['-version']);
  const version = /version "([^"]+)"/.exec(stderr)?.[1] ?? '?';
  return {
    version,
    major: Number(version.startsWith('1.') ? version.split('.')[1] : version.split(/[.+-]/)[0]),
  };
}

/**
 * The java binary to run Cassandra with: CASSANDRA_JAVA_HOME's when set, else the first Java 11 or 17 among
 * JAVA_HOME's, the one on PATH and Debian's JDK 17 — so a JAVA_HOME pointing at a newer JDK for other tools
 * does not stop Cassandra.
 */
function java() {
  const candidates = process.env.CASSANDRA_JAVA_HOME
    ? [javaBinary(process.env.CASSANDRA_JAVA_HOME)]
    : [
        ...new Set(
          [
            process.env.JAVA_HOME,
            '',
            '/usr/lib/jvm/java-17-openjdk-amd64',
            '/usr/lib/jvm/java-17-openjdk-arm64',
          ]
            .map((home) => {
              try {
                return javaBinary(home);
              } catch {
                return undefined;
              }
            })
            .filter((binary) => binary !== undefined && existsSync(binary)),
        ),
      ];
  const seen = [];
  for (const binary of candidates) {
    const { version, major } = javaMajor(binary);
    if (major === 11 || major === 17) return binary;
    seen.push(`${binary} (Java ${version})`);
  }
  throw new ServiceError(
    `Cassandra 5.0 runs only on Java 11 or 17; found ${seen.join(', ') || 'no java'}. ` +
      'Install a JDK 17 (Debian: openjdk-17-jre-headless) or set CASSANDRA_JAVA_HOME to one',
  );
}

function cassandraYaml() {
  const dir = dataDir(name);
  const yaml = `# Written by tools/services/cassandra.mjs on every start; edit that file instead.
cluster_name: datamesh-test
num_tokens: 1
initial_token: 0
auto_bootstrap: false
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${HOST}:${PORTS.storage}"
listen_address: ${HOST}
rpc_address: ${HOST}
storage_port: ${PORTS.storage}
ssl_storage_port: ${PORTS.sslStorage}
native_transport_port: ${PORTS.cql}
start_native_transport: true

data_file_directories:
  - ${join(dir, 'data')}
commitlog_directory: ${join(dir, 'commitlog')}
saved_caches_directory: ${join(dir, 'saved_caches')}
hints_directory: ${join(dir, 'hints')}

# Pin the 4.x commitlog / sstable / messaging format: the one our CDC connector's reader is written against.
storage_compatibility_mode: CASSANDRA_4

# batch: a write is acknowledged only after its commitlog section is fsynced, and every fsync of a segment
# holding CDC data rewrites its _cdc.idx, so once a write returns, the idx offset already covers it (no
# polling for a periodic sync in tests). Small preallocated segments keep the disk use and cdc_raw small.
commitlog_sync: batch
commitlog_segment_size: 4MiB
commitlog_total_space: 64MiB

cdc_enabled: true
cdc_raw_directory: ${endpoint.cdcRawDir}
cdc_total_space: 256MiB
cdc_free_space_check_interval: 250ms
# Full cdc_raw rejects writes to CDC tables instead of silently dropping unread CDC segments.
cdc_block_writes: true

# A small test node: little memory and few threads.
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_compactors: 1
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
file_cache_size: 32MiB
key_cache_size: 8MiB
hinted_handoff_enabled: false
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
`;
  const file = join(dir, 'conf', 'cassandra.yaml');
  mkdirSync(join(dir, 'conf'), { recursive: true });
  writeFileSync(file, yaml);
  return file;
}

function logbackXml() {
  mkdirSync(join(dataDir(name), 'conf'), { recursive: true });
  const file = join(dataDir(name), 'conf', 'logback.xml');
  writeFileSync(
    file,
    `<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level %date{ISO8601} [%thread] %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
`,
  );
  return file;
}

// conf/jvm17-server.options of apache/cassandra 5.0 (GC, netty, the module exports and opens Cassandra needs).
const JAVA17_FLAGS = [
  '-XX:+UseG1GC',
  '-XX:+ParallelRefProcEnabled',
  '-XX:MaxGCPauseMillis=300',
  '-Djdk.attach.allowAttachSelf=true',
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.allocator.useCacheForAllThreads=true',
  '-Dio.netty.allocator.maxOrder=11',
  ...[
    'java.base/jdk.internal.misc',
    'java.management.rmi/com.sun.jmx.remote.internal.rmi',
    'java.management/com.sun.jmx.remote.security',
    'java.rmi/sun.rmi.registry',
    'java.rmi/sun.rmi.server',
    'java.sql/java.sql',
    'java.base/java.lang.ref',
    'jdk.unsupported/sun.misc',
    'jdk.compiler/com.sun.tools.javac.file',
    'jdk.attach/sun.tools.attach',
  ].flatMap((p) => ['--add-exports', `${p}=ALL-UNNAMED`]),
  ...[
    'java.base/java.lang.module',
    'java.base/jdk.internal.loader',
    'java.base/jdk.internal.ref',
    'java.base/jdk.internal.reflect',
    'java.base/jdk.internal.math',
    'java.base/jdk.internal.module',
    'java.base/jdk.internal.util.jar',
    'jdk.management/com.sun.management.internal',
    'java.base/sun.nio.ch',
    'java.base/java.io',
    'java.base/java.nio',
    'java.base/java.lang.reflect',
    'jdk.compiler/com.sun.tools.javac',
    'java.base/java.lang',
    'java.base/java.util',
  ].flatMap((p) => ['--add-opens', `${p}=ALL-UNNAMED`]),
];

function triggersDir() {
  const dir = join(dataDir(name), 'triggers');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Before a start: removes from cdc_raw what no reader can still need — segments whose `_cdc.idx` says
 * COMPLETED, and links of segments without CDC data that the commitlog no longer holds (link count 1) — so
 * finished test runs never fill cdc_total_space (which, with cdc_block_writes, rejects writes to CDC tables).
 * Segments still in the commitlog (a killed node replays them) are kept.
 */
function pruneCdcRaw() {
  const dir = endpoint.cdcRawDir;
  if (!existsSync(dir)) return;
  const files = readdirSync(dir);
  let removed = 0;
  for (const file of files) {
    const path = join(dir, file);
    if (file.endsWith('_cdc.idx')) {
      if (!readFileSync(path, 'utf8').includes('COMPLETED')) continue;
      rmSync(path.replace(/_cdc\.idx$/, '.log'), { force: true });
      rmSync(path, { force: true });
      removed += 1;
    } else if (file.endsWith('.log') && !files.includes(file.replace(/\.log$/, '_cdc.idx'))) {
      if (statSync(path).nlink > 1) continue;
      rmSync(path, { force: true });
      removed += 1;
    }
  }
  if (removed > 0) log(name, `removed ${removed} finished segment(s) from ${dir}`);
}

function jvmArgs(lib) {
  const dir = dataDir(name);
  return [
    // Cassandra mlockall()s its memory at start, so the committed heap is resident at once: a small initial
    // heap keeps an idle node near 650 MB RSS, the maximum leaves room for bigger tests.
    `-Xms${HEAP.initial}`,
    `-Xmx${HEAP.max}`,
    '-Xss512k',
    // C1 only: CQL answers in about half the time (8-10 s instead of 16-19 s on 2 busy cores); test loads
    // never run long enough for C2 to pay off.
    '-XX:TieredStopAtLevel=1',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.net.preferIPv4Stack=true',
    `-javaagent:${findJar(lib, 'jamm-')}`,
    ...JAVA17_FLAGS,
    `-Dcassandra.config=${pathToFileURL(cassandraYaml()).href}`,
    `-Dlogback.configurationFile=${logbackXml()}`,
    `-Dcassandra.storagedir=${dir}`,
    `-Dcassandra.logdir=${logDir(name)}`,
    '-Dcassandra-foreground=yes',
    // A lone seed: nothing to gossip with or wait for.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=0',
    '-Dcassandra.superuser_setup_delay_ms=0',
    `-Dcassandra.triggers_dir=${triggersDir()}`,
    // JMX off: no -Dcassandra.jmx.{local,remote}.port, so no JMX port is opened (a warning says so).
    '-cp',
    join(lib, '*'),
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}

/** Throws a ServiceError naming the port when something on this host already listens on it. */
function ensurePortFree(port, what) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => {
      reject(
        new ServiceError(
          error.code === 'EADDRINUSE'
            ? `port ${port} (${what}) on ${HOST} is already in use by another process; stop it and run up again`
            : `cannot listen on ${HOST}:${port} (${what}): ${error.message}`,
        ),
      );
    });
    server.listen(port, HOST, () => server.close(() => resolve()));
  });
}

// The readiness and status query speaks the CQL native protocol (v4) itself: STARTUP, then one QUERY. That
// keeps the harness free of cassandra-driver, which breaks inside vitest workers (see the test file).
const CQL = { version: 0x04, error: 0x00, startup: 0x01, ready: 0x02, query: 0x07, result: 0x08 };

function cqlString(text) {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function cqlFrame(stream, opcode, body) {
  const header = Buffer.alloc(9);
  header.writeUInt8(CQL.version, 0);
  header.writeUInt16BE(stream, 2);
  header.writeUInt8(opcode, 4);
  header.writeUInt32BE(body.length, 5);
  return Buffer.concat([header, body]);
}

/**
 * Runs one CQL query whose result is a single text column and resolves its first value; rejects with the
 * server's error message or on a timeout. Only what readiness needs: no paging, no prepared statements.
 */
function cqlQueryText(query, { host = HOST, port = PORTS.cql, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffered = Buffer.alloc(0);
    const finish = (error, value) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no CQL answer within ${timeoutMs} ms`)));
    socket.once('error', (error) => finish(error));
    socket.once('connect', () => {
      const options = Buffer.concat([Buffer.from([0, 1]), cqlString('CQL_VERSION'), cqlString('3.0.0')]);
      socket.write(cqlFrame(0, CQL.startup, options));
    });
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9 && buffered.length >= 9 + buffered.readUInt32BE(5)) {
        const opcode = buffered.readUInt8(4);
        const body = buffered.subarray(9, 9 + buffered.readUInt32BE(5));
        buffered = buffered.subarray(9 + body.length);
        try {
          if (opcode === CQL.error) {
            const length = body.readUInt16BE(4);
            throw new Error(
              `CQL error 0x${body.readInt32BE(0).toString(16)}: ${body.toString('utf8', 6, 6 + length)}`,
            );
          }
          if (opcode === CQL.ready) {
            const longString = Buffer.alloc(4);
            const text = Buffer.from(query, 'utf8');
            longString.writeUInt32BE(text.length);
            // <long string query><short consistency ONE><byte flags: none>
            socket.write(cqlFrame(1, CQL.query, Buffer.concat([longString, text, Buffer.from([0, 1, 0])])));
          } else if (opcode === CQL.result) {
            finish(undefined, firstTextValue(body));
          } else {
            throw new Error(`unexpected CQL opcode 0x${opcode.toString(16)}`);
          }
        } catch (error) {
          finish(error);
        }
      }
    });
  });
}

/** The first cell of a RESULT/Rows body whose columns are simple types (text here), as a string. */
function firstTextValue(body) {
  let at = 0;
  const int = () => {
    at += 4;
    return body.readInt32BE(at - 4);
  };
  const short = () => {
    at += 2;
    return body.readUInt16BE(at - 2);
  };
  const skipString = () => {
    const length = short(); // read first: `at += short()` would add to the old position
    at += length;
  };
  if (int() !== 2) throw new Error('CQL result is not rows');
  const flags = int();
  const columns = int();
  const globalTable = (flags & 0x0001) !== 0;
  if (flags & 0x0002) at += 4 + Math.max(0, body.readInt32BE(at)); // paging state
  if (!(flags & 0x0004)) {
    const tableSpecs = globalTable ? 1 : columns;
    for (let i = 0; i < columns; i++) {
      if (i < tableSpecs) {
        skipString(); // keyspace
        skipString(); // table
      }
      skipString(); // column name
      const type = short();
      if (type === 0x0000 || type >= 0x0020) {
        throw new Error(`CQL column type 0x${type.toString(16)} unsupported`);
      }
    }
  }
  if (int() < 1) return undefined;
  const length = int();
  return length < 0 ? undefined : body.toString('utf8', at, at + length);
}

/** `release_version` from system.local, or undefined when CQL does not answer (yet). */
async function releaseVersion() {
  if (!(await canConnect(PORTS.cql, HOST))) return undefined;
  try {
    return await cqlQueryText('SELECT release_version FROM system.local');
  } catch {
    return undefined;
  }
}

export async function install() {
  const lib = jars();
  const jar = findJar(lib, `cassandra-all-${VERSION}`);
  log(name, `installed: Cassandra ${VERSION} (${jar})`);
}

export async function up() {
  const lib = jars();
  const pid = runningPid(name);
  if (pid !== undefined) {
    const version = await releaseVersion();
    if (version !== undefined) {
      log(name, `already running (pid ${pid}, Cassandra ${version})`);
      return;
    }
    log(name, `pid ${pid} is running but CQL does not answer yet; waiting`);
  } else {
    const javaBin = java();
    await ensurePortFree(PORTS.cql, 'CQL native transport');
    await ensurePortFree(PORTS.storage, 'storage / internode');
    await ensurePortFree(PORTS.sslStorage, 'SSL storage');
    pruneCdcRaw();
    startDaemon(name, javaBin, jvmArgs(lib), { cwd: dataDir(name) });
  }
  await waitUntilReady(
    name,
    `CQL answers on ${HOST}:${PORTS.cql}`,
    async () => (await releaseVersion()) !== undefined,
    { timeoutMs: 300_000, intervalMs: 500 },
  );
}

export async function down() {
  // SIGTERM runs Cassandra's shutdown hook (drain: flush memtables, close the commitlog).
  await stopDaemon(name, { timeoutMs: 60_000 });
}

export async function status() {
  try {
    if (!existsSync(join(libDir, '.resolved'))) {
      return { ok: false, detail: `not installed (run: npm run services -- install ${name})` };
    }
    const pid = runningPid(name);
    const version = await releaseVersion();
    if (pid === undefined) {
      return version === undefined
        ? { ok: false, detail: `not running (run: npm run services -- up ${name})` }
        : {
            ok: false,
            detail: `Cassandra ${version} answers on ${HOST}:${PORTS.cql} but was not started by this harness (no pid file)`,
          };
    }
    if (version === undefined) {
      return {
        ok: false,
        detail: `pid ${pid} running, but CQL does not answer on ${HOST}:${PORTS.cql} (yet)`,
      };
    }
    return {
      ok: true,
      detail: `Cassandra ${version} on ${HOST}:${PORTS.cql} (pid ${pid}), cdc_raw ${endpoint.cdcRawDir}`,
    };
  } catch (error) {
    return { ok: false, detail: `status failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
