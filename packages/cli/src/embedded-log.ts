import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedTransport, type EmbeddedTransportOptions } from '@datamesh/core';

/** Raised when a data dir, opened to read, holds no embedded log (a typo, or a node that never ran there). */
export class NoEmbeddedLogError extends Error {
  readonly dataDir: string;
  constructor(dataDir: string) {
    super(
      `the data dir ${dataDir} has no embedded log; pass the node's data dir with --data-dir ` +
        '(the demo keeps its own in .datamesh/demo)',
    );
    this.name = 'NoEmbeddedLogError';
    this.dataDir = dataDir;
  }
}

/** Opens the embedded log of a node's data dir (`<dataDir>/log`). */
export async function openEmbeddedLog(
  dataDir: string,
  options: Omit<EmbeddedTransportOptions, 'dir'> = {},
): Promise<EmbeddedTransport> {
  const dir = join(dataDir, 'log');
  if (options.readOnly) {
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) throw new NoEmbeddedLogError(dataDir);
  }
  return EmbeddedTransport.open({ ...options, dir });
}
