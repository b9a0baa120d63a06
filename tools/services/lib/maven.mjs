// Resolves a JVM server's jars from Maven Central: a throw-away POM listing the server's artifacts, then
// `dependency:copy-dependencies` into the service's cache folder. Idempotent: a stamp holding the POM's hash
// skips the resolution when nothing changed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { ServiceError, capture, findOnPath, log } from './system.mjs';
import { cacheDir, mavenRepo } from './paths.mjs';

const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

function dependencyXml({ groupId, artifactId, version, classifier, type, exclusions = [] }) {
  const excl = exclusions
    .map((e) => {
      const [g, a = '*'] = e.split(':');
      return `<exclusion><groupId>${g}</groupId><artifactId>${a}</artifactId></exclusion>`;
    })
    .join('');
  return [
    '<dependency>',
    `<groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version>`,
    classifier ? `<classifier>${classifier}</classifier>` : '',
    type ? `<type>${type}</type>` : '',
    excl ? `<exclusions>${excl}</exclusions>` : '',
    '</dependency>',
  ].join('');
}

/**
 * Resolves `dependencies` (and their runtime dependencies) into `<cache>/<service>/<folder>` and returns that
 * folder, whose jars make the server's class path (`<folder>/*`).
 * `managed` pins versions of transitive artifacts (dependencyManagement).
 */
export function resolveJars(service, { dependencies, managed = [], folder = 'lib' }) {
  const dir = cacheDir(service);
  const lib = join(dir, folder);
  const pom = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.datamesh.services</groupId><artifactId>${service}-${folder}</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies>${managed.map(dependencyXml).join('\n')}</dependencies></dependencyManagement>
  <dependencies>
${dependencies.map((d) => `    ${dependencyXml(d)}`).join('\n')}
  </dependencies>
</project>
`;
  const hash = createHash('sha256').update(pom).digest('hex');
  const stamp = join(lib, '.resolved');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) {
    return lib;
  }
  if (!findOnPath('mvn')) {
    throw new ServiceError('mvn (Apache Maven) is not on PATH: install it (Debian: apt-get install maven)');
  }
  const pomFile = join(dir, `pom-${folder}.xml`);
  writeFileSync(pomFile, pom);
  rmSync(lib, { recursive: true, force: true });
  log(service, `resolving jars from Maven Central into ${lib} (first time only; this can take minutes)`);
  const started = Date.now();
  // Quiet Maven still prints bare colour resets; its output is shown only when it fails.
  const { status, stdout, stderr } = capture('mvn', [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    pomFile,
    `-Dmaven.repo.local=${mavenRepo}`,
    `${DEPENDENCY_PLUGIN}:copy-dependencies`,
    `-DoutputDirectory=${lib}`,
    '-DincludeScope=runtime',
  ]);
  if (status !== 0) {
    const output = stripVTControlCharacters(`${stdout}\n${stderr}`).trim();
    throw new ServiceError(`Maven could not resolve the jars of ${service} (exit ${status}):\n${output}`);
  }
  const jars = readdirSync(lib).filter((f) => f.endsWith('.jar'));
  if (jars.length === 0) throw new ServiceError(`Maven resolved no jars for ${service} into ${lib}`);
  writeFileSync(stamp, hash);
  log(service, `resolved ${jars.length} jars in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return lib;
}

/** The one jar in `lib` whose file name starts with `prefix` (e.g. 'jamm-'), or a clear error. */
export function findJar(lib, prefix) {
  const jar = readdirSync(lib).find((f) => f.startsWith(prefix) && f.endsWith('.jar'));
  if (!jar) throw new ServiceError(`no ${prefix}*.jar in ${lib}; delete the folder and run install again`);
  return join(lib, jar);
}

/** The java binary to run a server with: JAVA_HOME's, else the one on PATH. */
export function javaBinary(javaHome = process.env.JAVA_HOME) {
  if (javaHome && existsSync(join(javaHome, 'bin', 'java'))) return join(javaHome, 'bin', 'java');
  const java = findOnPath('java');
  if (!java)
    throw new ServiceError('java is not on PATH: install a JDK 17 (Debian: openjdk-17-jre-headless)');
  return java;
}

/** The java to run with, checked to be 17 or newer (for servers whose jars are built for Java 17). */
export function java17() {
  const java = javaBinary();
  const { status, stdout, stderr } = capture(java, ['-version']);
  // `openjdk version "17.0.15" 2025-04-15` (older JVMs: "1.8.0_…")
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${stderr}${stdout}`);
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : NaN;
  if (status !== 0 || !(major >= 17)) {
    throw new ServiceError(
      `${java} is not Java 17 or newer (${(stderr || stdout).split('\n')[0]?.trim() || `exit ${status}`}): ` +
        'install a JDK 17 (Debian: openjdk-17-jdk-headless) or point JAVA_HOME at one',
    );
  }
  return java;
}

function sourceHash(source) {
  return createHash('sha256').update(readFileSync(source)).digest('hex');
}

/** True when `classes` holds the launcher compiled from the current version of `source`. */
export function launcherCompiled({ source, classes }) {
  const stamp = join(classes, '.source-sha256');
  return existsSync(stamp) && readFileSync(stamp, 'utf8') === sourceHash(source);
}

/**
 * Compiles a service's small Java launcher against the jars in `lib` into `classes`, once per version of its
 * source. Needs the JDK's javac (next to `java`, or on PATH).
 */
export function compileLauncher(service, { source, lib, classes, release, java = javaBinary() }) {
  if (launcherCompiled({ source, classes })) return;
  const javac = [join(dirname(java), 'javac'), findOnPath('javac')].find((c) => c && existsSync(c));
  if (!javac) {
    throw new ServiceError(
      'javac not found (next to java or on PATH): install a JDK 17 (Debian: openjdk-17-jdk-headless)',
    );
  }
  log(service, `compiling ${source}`);
  rmSync(classes, { recursive: true, force: true });
  mkdirSync(classes, { recursive: true });
  const { status, stdout, stderr } = capture(javac, [
    '--release',
    String(release),
    '-cp',
    join(lib, '*'),
    '-d',
    classes,
    source,
  ]);
  if (status !== 0) {
    throw new ServiceError(`compiling ${source} failed (javac exited ${status}):\n${stdout}${stderr}`);
  }
  writeFileSync(join(classes, '.source-sha256'), sourceHash(source));
}
