import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { EmbeddedTransport } from '@datamesh/core';
import { describeTransportConformance } from './transport-conformance.js';

// The embedded transport is the reference implementation the suite is proven against. It runs here rather
// than in core because core importing testkit would be a circular project dependency.
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-conformance-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeTransportConformance('embedded', () => EmbeddedTransport.open({ dir, fsync: 'never' }), {
  transactions: true,
});
