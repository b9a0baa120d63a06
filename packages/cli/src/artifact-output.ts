import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Writes generated text to `out`, or returns it for stdout when no file is given. */
export async function writeArtifact(text: string, out: string | undefined): Promise<string | undefined> {
  if (!out) return text;
  const file = resolve(out);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text.endsWith('\n') ? text : `${text}\n`);
  return undefined;
}
