// The command-line frame of a benchmark: flags read as integers, `--help`, and exit codes (2 for a usage error, 1
// for a failed setup or run).
import { BenchSetupError } from './mesh-node.mjs';

export class UsageError extends BenchSetupError {}

/** `--<flag>` of parseArgs' `values` as an integer of at least `min`. */
export function intFlag(values, flag, min = 1) {
  const n = Number(values[flag]);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}`);
  return n;
}

/** Prints `help` for --help, else runs `main` and sets the exit code from how it ended. */
export async function runBenchmark(help, values, main) {
  if (values.help) {
    process.stdout.write(help);
    return;
  }
  process.exitCode = await main().catch((error) => {
    console.error(error instanceof BenchSetupError ? error.message : (error.stack ?? String(error)));
    return error instanceof UsageError ? 2 : 1;
  });
}
