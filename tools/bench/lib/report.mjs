// How benchmarks print their figures.

/** A number for people: thousands separated, `digits` decimals; n/a for what is not a finite number. */
export function fmt(n, digits = 0) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/**
 * Prints rows (the first is the header) as aligned columns, a rule under the header: the first `textColumns`
 * columns left-aligned, the figures after them right-aligned.
 */
export function printTable(rows, { textColumns = 1 } = {}) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) =>
    r.map((cell, c) => (c < textColumns ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}
