import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes a log4j2 config that keeps Kafka's Java tools (ProducerPerformance, ConsumerPerformance) to warnings on
 * stderr, so their stdout holds only their figures. Answers its path.
 */
export function quietLog4j(dir) {
  const file = join(dir, 'log4j2.properties');
  writeFileSync(
    file,
    [
      'status = error',
      'appender.console.type = Console',
      'appender.console.name = STDERR',
      'appender.console.target = SYSTEM_ERR',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = %p %m (%c)%n',
      'rootLogger.level = WARN',
      'rootLogger.appenderRef.stderr.ref = STDERR',
      '',
    ].join('\n'),
  );
  return file;
}
