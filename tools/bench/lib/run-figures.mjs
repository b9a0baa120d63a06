// Figures over several runs of a benchmark with two sides (ours and a baseline): medians, ratios, the rows of
// the comparison table, and the line describing the machine.
import { cpus, loadavg, totalmem } from 'node:os';
import { fmt } from './report.mjs';

export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function ratioText(ours, theirs) {
  return Number.isFinite(ours / theirs) && theirs !== 0 ? `${fmt(ours / theirs, 2)}×` : 'n/a';
}

/**
 * A table row per figure: its label, the median of ours, the median of the baseline, the ratio of the medians,
 * and each run of both sides (in run order). `get(side result)` reads the figure; NaN when a side lacks it.
 */
export function figureRows(figures, ours, theirs) {
  return figures.map(([label, get, digits = 0]) => {
    const a = ours.map((r) => (r ? get(r) : NaN));
    const b = theirs.map((r) => (r ? get(r) : NaN));
    const runs = (xs) => xs.map((x) => fmt(x, digits)).join(' / ');
    return [
      label,
      fmt(median(a), digits),
      fmt(median(b), digits),
      ratioText(median(a), median(b)),
      runs(a),
      runs(b),
    ];
  });
}

export function loadText() {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** "node v24…, 2 CPUs (AMD EPYC …), 8 GB RAM, load average …" */
export function machineText() {
  return (
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), ` +
    `${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, load average ${loadText()}`
  );
}
