// Apache Kafka 4.x in KRaft combined mode (one broker that is also its controller), from Maven Central jars.
// Listeners: PLAINTEXT for most tests, SASL_PLAINTEXT with SCRAM users and SSL with a throw-away CA, so the
// transport's secure options are tested against the real broker. Transactions work (single-node replication
// settings for the internal topics).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ServiceError, capture, log } from './lib/system.mjs';
import {
  canConnect,
  runningPid,
  startDaemon,
  stopDaemon,
  usingRunningServer,
  waitUntilReady,
} from './lib/daemon.mjs';
import { javaBinary, resolveJars } from './lib/maven.mjs';
import { cacheDir, dataDir, logDir } from './lib/paths.mjs';

export const name = 'kafka';
export const description = 'Apache Kafka 4.1 (KRaft single node, transactions, SASL/SCRAM and TLS listeners)';

const VERSION = '4.1.1';
const LOG4J = '2.24.3';
const HOST = '127.0.0.1';
const PORTS = { plaintext: 59092, controller: 59093, sasl: 59094, tls: 59095, faulty: 59096 };
/**
 * The FAULTY listener (59096) advertises this port instead of its own: a test runs a TCP proxy here that it
 * can cut and restore, to see how clients behave when the broker becomes unreachable and comes back.
 */
const FAULTY_ADVERTISED_PORT = 59097;
const SCRAM_USER = { username: 'datamesh', password: 'datamesh-secret' };
const KEYSTORE_PASSWORD = 'datamesh-test-only';

const tlsDir = () => join(dataDir(name), 'tls');

export const endpoint = {
  brokers: [`${HOST}:${PORTS.plaintext}`],
  saslBrokers: [`${HOST}:${PORTS.sasl}`],
  sasl: SCRAM_USER,
  tlsBrokers: [`${HOST}:${PORTS.tls}`],
  tls: { caFile: join(tlsDir(), 'ca.pem') },
  faulty: { brokers: [`${HOST}:${FAULTY_ADVERTISED_PORT}`], proxyTo: { host: HOST, port: PORTS.faulty } },
  libDir: join(cacheDir(name), 'lib'),
};

function jars() {
  return resolveJars(name, {
    dependencies: [
      { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: VERSION },
      // ProducerPerformance / ConsumerPerformance, the peers of our transport benchmark.
      { groupId: 'org.apache.kafka', artifactId: 'kafka-tools', version: VERSION },
      // kafka_2.13 does not bring its logging backend; without it the broker logs nothing.
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J },
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J },
    ],
  });
}

function log4jConfig() {
  const file = join(dataDir(name), 'log4j2.properties');
  writeFileSync(
    file,
    [
      'status = warn',
      'appender.console.type = Console',
      'appender.console.name = STDOUT',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.stdout.ref = STDOUT',
      'logger.kafka.name = kafka',
      'logger.kafka.level = WARN',
      'logger.ak.name = org.apache.kafka',
      'logger.ak.level = WARN',
      '',
    ].join('\n'),
  );
  return file;
}

function serverProperties() {
  const tls = tlsDir();
  const props = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@${HOST}:${PORTS.controller}`,
    listeners: [
      `PLAINTEXT://${HOST}:${PORTS.plaintext}`,
      `CONTROLLER://${HOST}:${PORTS.controller}`,
      `SASL_PLAINTEXT://${HOST}:${PORTS.sasl}`,
      `SSL://${HOST}:${PORTS.tls}`,
      `FAULTY://${HOST}:${PORTS.faulty}`,
    ].join(','),
    'advertised.listeners': [
      `PLAINTEXT://${HOST}:${PORTS.plaintext}`,
      `SASL_PLAINTEXT://${HOST}:${PORTS.sasl}`,
      `SSL://${HOST}:${PORTS.tls}`,
      `FAULTY://${HOST}:${FAULTY_ADVERTISED_PORT}`,
    ].join(','),
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map':
      'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,FAULTY:PLAINTEXT',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'ssl.keystore.type': 'PKCS12',
    'ssl.keystore.location': join(tls, 'broker.p12'),
    'ssl.keystore.password': KEYSTORE_PASSWORD,
    'ssl.key.password': KEYSTORE_PASSWORD,
    'ssl.client.auth': 'none',
    'log.dirs': join(dataDir(name), 'kraft-logs'),
    'num.partitions': '1',
    // Single node: the internal topics (offsets, transactions) must not ask for three replicas, or groups
    // and transactions never become available.
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    'auto.create.topics.enable': 'false',
    // ACLs, for tests of what a client without permission sees. Every PLAINTEXT and SSL client (no client
    // certificates), the controller listener and inter-broker traffic are User:ANONYMOUS, a super user; SASL
    // users may do anything on a resource that has no ACL. So only a test's own ACLs (on its own topics) deny.
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'allow.everyone.if.no.acl.found': 'true',
    'super.users': 'User:ANONYMOUS',
    // Tests create many short-lived topics: keep segment files small.
    'log.segment.bytes': String(16 * 1024 * 1024),
  };
  const file = join(dataDir(name), 'server.properties');
  writeFileSync(
    file,
    `${Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  return file;
}

/** A throw-away CA and a broker certificate for 127.0.0.1 / localhost, made with the JDK's keytool. */
function ensureTls() {
  const dir = tlsDir();
  const ca = join(dir, 'ca.pem');
  const broker = join(dir, 'broker.p12');
  if (existsSync(ca) && existsSync(broker)) return;
  capture('mkdir', ['-p', dir]);
  const keytool = join(javaBinary(), '..', 'keytool');
  const tool = (args) => {
    const { status, stderr, stdout } = capture(keytool, args);
    if (status !== 0) throw new ServiceError(`keytool ${args[0]} failed: ${stderr || stdout}`);
    return stdout;
  };
  const caStore = join(dir, 'ca.p12');
  const common = ['-storetype', 'PKCS12', '-storepass', KEYSTORE_PASSWORD, '-keypass', KEYSTORE_PASSWORD];
  tool([
    '-genkeypair',
    '-alias',
    'ca',
    '-keyalg',
    'RSA',
    '-keysize',
    '2048',
    '-validity',
    '3650',
    '-dname',
    'CN=datamesh test CA',
    '-ext',
    'bc:c',
    '-keystore',
    caStore,
    ...common,
  ]);
  tool([
    '-genkeypair',
    '-alias',
    'broker',
    '-keyalg',
    'RSA',
    '-keysize',
    '2048',
    '-validity',
    '3650',
    '-dname',
    'CN=localhost',
    '-keystore',
    broker,
    ...common,
  ]);
  const csr = join(dir, 'broker.csr');
  tool(['-certreq', '-alias', 'broker', '-file', csr, '-keystore', broker, ...common]);
  const signed = join(dir, 'broker.pem');
  tool([
    '-gencert',
    '-alias',
    'ca',
    '-infile',
    csr,
    '-outfile',
    signed,
    '-rfc',
    '-validity',
    '3650',
    '-ext',
    'san=ip:127.0.0.1,dns:localhost',
    '-keystore',
    caStore,
    ...common,
  ]);
  writeFileSync(ca, tool(['-exportcert', '-alias', 'ca', '-rfc', '-keystore', caStore, ...common]));
  tool(['-importcert', '-noprompt', '-alias', 'ca', '-file', ca, '-keystore', broker, ...common]);
  tool(['-importcert', '-alias', 'broker', '-file', signed, '-keystore', broker, ...common]);
  log(name, `made a test CA and broker certificate in ${dir}`);
}

function javaArgs(lib, heap = ['-Xms256m', '-Xmx768m']) {
  return [
    ...heap,
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=file:${log4jConfig()}`,
    '-cp',
    `${lib}/*`,
  ];
}

/** Formats the storage once; SCRAM users are written into the metadata log at format time. */
function ensureFormatted(lib, properties) {
  const marker = join(dataDir(name), 'kraft-logs', 'meta.properties');
  if (existsSync(marker)) return;
  const clusterId = randomBytes(16).toString('base64url');
  const scram = `[name=${SCRAM_USER.username},password=${SCRAM_USER.password}]`;
  const { status, stdout, stderr } = capture(javaBinary(), [
    ...javaArgs(lib, ['-Xmx256m']),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    properties,
    '--add-scram',
    `SCRAM-SHA-256=${scram}`,
    '--add-scram',
    `SCRAM-SHA-512=${scram}`,
  ]);
  if (status !== 0) throw new ServiceError(`formatting Kafka's storage failed:\n${stderr || stdout}`);
  log(name, `formatted storage (cluster ${clusterId})`);
}

export async function install() {
  const lib = jars();
  ensureTls();
  log(name, `installed Kafka ${VERSION} (${lib})`);
}

export async function up() {
  // A broker that runs but answers slowly (a loaded machine) must not get a second one started beside it.
  if (await usingRunningServer(name, endpoint.brokers[0], () => canConnect(PORTS.plaintext))) return;
  for (const port of Object.values(PORTS)) {
    if (await canConnect(port)) {
      throw new ServiceError(
        `port ${port} on ${HOST} is taken by another process; stop it (ss -ltnp 'sport = :${port}') and retry`,
      );
    }
  }
  const lib = jars();
  ensureTls();
  const properties = serverProperties();
  ensureFormatted(lib, properties);
  logDir(name);
  startDaemon(name, javaBinary(), [...javaArgs(lib), 'kafka.Kafka', properties]);
  await waitUntilReady(name, `brokers answer on ${Object.values(PORTS).join(', ')}`, async () => {
    for (const port of Object.values(PORTS)) if (!(await canConnect(port))) return false;
    return true;
  });
  // A new broker creates __consumer_offsets on the first group request and answers NOT_COORDINATOR until the
  // group coordinator has loaded it (seconds on a loaded machine): a client's first group call would fail.
  await waitUntilReady(name, 'the group coordinator answers', groupCoordinatorAnswers);
}

async function groupCoordinatorAnswers() {
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const admin = new Kafka({
    brokers: endpoint.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 200 },
  }).admin();
  try {
    await admin.connect();
    const { groups } = await admin.describeGroups(['datamesh-services-ready']);
    return groups.every((g) => g.errorCode === 0);
  } finally {
    await admin.disconnect();
  }
}

export async function down() {
  await stopDaemon(name, { timeoutMs: 30_000 });
}

export async function status() {
  const pid = runningPid(name);
  if (pid === undefined) return { ok: false, detail: 'not running (run: npm run services -- up kafka)' };
  if (!(await canConnect(PORTS.plaintext))) {
    return { ok: false, detail: `pid ${pid} runs but ${endpoint.brokers[0]} does not answer` };
  }
  return {
    ok: true,
    detail: `Kafka ${VERSION} pid ${pid} on ${endpoint.brokers[0]} (sasl ${endpoint.saslBrokers[0]}, tls ${endpoint.tlsBrokers[0]})`,
  };
}

// The broker's version, for reports.
export const version = VERSION;
