import { readFile } from 'node:fs/promises';

/** One line of a file sink's output, as far as the end-to-end tests look at it. */
export interface ChangeLine {
  key: { id: number };
  op: string | null;
  source: { seq: number } | null;
}

export async function readLines(file: string): Promise<ChangeLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ChangeLine);
}

/** Changes (not tombstones) in the file: their generator sequence numbers, first occurrences and repeats. */
export function analyse(lines: readonly ChangeLine[]) {
  const changes = lines.filter((l) => l.source !== null);
  const seen = new Set<number>();
  let duplicates = 0;
  const firstByKey = new Map<number, number[]>();
  for (const line of changes) {
    const seq = line.source!.seq;
    if (seen.has(seq)) {
      duplicates++;
      continue;
    }
    seen.add(seq);
    firstByKey.set(line.key.id, [...(firstByKey.get(line.key.id) ?? []), seq]);
  }
  const outOfOrderKeys = [...firstByKey.entries()]
    .filter(([, seqs]) => seqs.some((s, i) => i > 0 && s < seqs[i - 1]!))
    .map(([k]) => k);
  return { distinct: seen, duplicates, outOfOrderKeys };
}
