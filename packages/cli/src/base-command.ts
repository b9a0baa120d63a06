import { Command, Flags } from '@oclif/core';
import { ConfigError, DocumentError, formatProblem, type PluginRegistry } from '@datamesh/core';
import { loadPlugins } from './plugin-loader.js';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, invalid: 2 } as const;

export abstract class MeshCommand extends Command {
  static override baseFlags = {
    'plugin-dir': Flags.string({
      description: 'Also load the datamesh plugin package in this folder (repeatable).',
      multiple: true,
      helpGroup: 'GLOBAL',
    }),
  };

  async registry(pluginDirs: readonly string[] = []): Promise<PluginRegistry> {
    const registry = await loadPlugins(this.config, pluginDirs);
    for (const refused of registry.refused()) {
      this.warn(`plugin ${refused.packageName} refused: ${refused.reason}`);
    }
    return registry;
  }

  /** Turns the errors users cause into a clear message and exit code 2; the rest are failures (1). */
  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<unknown> {
    if (error instanceof DocumentError) {
      this.logToStderr(error.message.split('\n')[0]!);
      for (const problem of error.problems) this.logToStderr(`  ${formatProblem(problem)}`);
      this.exit(EXIT.invalid);
    }
    if (error instanceof ConfigError) {
      this.logToStderr(error.message);
      this.exit(EXIT.invalid);
    }
    return super.catch(error);
  }
}
