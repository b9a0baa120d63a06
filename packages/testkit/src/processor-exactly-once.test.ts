import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { EmbeddedTransport } from '@datamesh/core';
import { itWritesProcessorOutputsExactlyOnce } from './processor-exactly-once.js';

// The embedded transport runs the check here, as it runs the transport conformance suite (core cannot import
// the testkit); the Kafka transport runs it in its own package.
const dir = mkdtempSync(join(tmpdir(), 'datamesh-processor-eos-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('processor outputs on the embedded transport', () => {
  itWritesProcessorOutputsExactlyOnce('embedded', {
    // The node opens the log in <dataDir>/log itself when given none; the check gives it this one.
    open: () => EmbeddedTransport.open({ dir: join(dir, 'log'), fsync: 'never' }),
    nodeTransport: { kind: 'embedded' },
    dataDir: dir,
    timeoutMs: 60_000,
  });
});
