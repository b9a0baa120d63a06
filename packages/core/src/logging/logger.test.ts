import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LoggerOptions } from './logger.js';

function capture(options: LoggerOptions = {}) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ ...options, destination }) };
}

describe('createLogger redacts secrets', () => {
  it('in every common spelling of a secret field name', () => {
    const { lines, logger } = capture();
    const spellings = [
      'password',
      'Password',
      'PASSWORD',
      'passwd',
      'passphrase',
      'secret',
      'clientSecret',
      'client_secret',
      'token',
      'accessToken',
      'apiKey',
      'ApiKey',
      'apikey',
      'APIKEY',
      'api_key',
      'API_KEY',
      'api-key',
      'privateKey',
      'PRIVATE_KEY',
      'secretKey',
      'accessKey',
      'secretAccessKey',
      'SECRET_ACCESS_KEY',
      'encryptionKey',
      'signingKey',
      'hmacKey',
      'salt',
      'Salt',
      'SALT',
      'sasl',
      'credentials',
    ];
    logger.info(Object.fromEntries(spellings.map((k) => [k, 'hunter2'])), 'secrets');
    const line = lines[0]!;
    for (const k of spellings) expect(line[k], k).toBe('[redacted]');
    expect(JSON.stringify(line)).not.toContain('hunter2');
  });

  it('at every level of nesting a config reaches, in arrays too, and leaves everything else alone', () => {
    const { lines, logger } = capture();
    const original = {
      stage: 'orders',
      config: {
        host: 'db',
        Password: 'hunter2',
        tls: { key: 'PEM', cert: 'CERT' },
        mask: { fields: ['email'], salt: 'pepper' },
        brokers: [{ host: 'k1', sasl: { mechanism: 'plain', password: 'x' } }],
        a: { b: { c: { API_KEY: 'deep' } } },
      },
      key: { id: 7 },
      keys: 3,
      tokens: 5,
    };
    const before = structuredClone(original);
    logger.warn(original, 'config');
    expect(lines[0]).toMatchObject({
      stage: 'orders',
      config: {
        host: 'db',
        Password: '[redacted]',
        tls: { key: '[redacted]', cert: 'CERT' },
        mask: { fields: ['email'], salt: '[redacted]' },
        brokers: [{ host: 'k1', sasl: '[redacted]' }],
        a: { b: { c: { API_KEY: '[redacted]' } } },
      },
      key: { id: 7 },
      keys: 3,
      tokens: 5,
    });
    // The logged object itself is not changed.
    expect(original).toEqual(before);
  });

  it('in errors, child bindings and the base', () => {
    const { lines, logger } = capture({ base: { component: 'x', SESSION_TOKEN: 'hunter2' } });
    const error = Object.assign(new Error('connect failed'), { password: 'hunter2' });
    logger.child({ pipeline: 'p', Secret: 'hunter2' }).child({ stage: 's' }).error({ err: error }, 'failed');
    expect(lines[0]).toMatchObject({
      pipeline: 'p',
      Secret: '[redacted]',
      stage: 's',
      SESSION_TOKEN: '[redacted]',
      err: { message: 'connect failed', password: '[redacted]' },
    });
    expect(JSON.stringify(lines[0])).not.toContain('hunter2');
    logger.error({ err: 'not an error' }, 'odd');
    expect(lines[1]).toMatchObject({ err: 'not an error' });
  });
});

describe('redaction of values that are not plain objects', () => {
  it('censors secrets in class instances and in errors under any key', () => {
    class ConnectionOptions {
      host = 'db';
      password = 'CLASS-SECRET';
    }
    const error = Object.assign(new Error('connect failed'), { password: 'ERROR-SECRET' });
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    logger.info({ source: new ConnectionOptions(), error }, 'connecting');
    logger.child({ conn: new ConnectionOptions() }).info('child');
    const text = lines.join('');
    expect(text).not.toMatch(/CLASS-SECRET|ERROR-SECRET/);
    expect(text).toContain('"host":"db"');
    expect(text).toContain('connect failed');
  });
});
