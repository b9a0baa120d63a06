import { Command, Errors, Flags } from '@oclif/core';
import {
  ConfigError,
  DirLockedError,
  DocumentError,
  formatProblem,
  RegistryRequestError,
  type PluginRegistry,
  type Problem,
} from '@datamesh/core';
import { KafkaTransportError } from '@datamesh/transport-kafka';
import { NoEmbeddedLogError } from './embedded-log.js';
import { loadPlugins } from './plugin-loader.js';
import { TransportConfigError } from './transport-factory.js';

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

  /**
   * Turns the errors users cause into a clear message and exit code 2; the rest are failures (1). With --json,
   * the outcome is JSON on stdout: `{ valid: false, problems }` for an invalid document, `{ error }` otherwise.
   */
  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<unknown> {
    const json = this.jsonEnabled();
    if (error instanceof DocumentError) {
      if (json) this.logJson({ valid: false, problems: error.problems.map(problemJson) });
      else {
        this.logToStderr(error.message.split('\n')[0]!);
        for (const problem of error.problems) this.logToStderr(`  ${formatProblem(problem)}`);
      }
      this.exit(EXIT.invalid);
    }
    if (error instanceof ConfigError) {
      if (json) this.logJson({ error: error.message });
      else this.logToStderr(error.message);
      this.exit(EXIT.invalid);
    }
    if (error instanceof RegistryRequestError) {
      // Unreachable, timed out or refused credentials: a failure (1); a refusal of what was asked: invalid (2).
      const refused =
        error.status !== undefined && error.status < 500 && error.status !== 401 && error.status !== 403;
      if (json) this.logJson({ error: error.message });
      else this.logToStderr(error.message);
      this.exit(refused ? EXIT.invalid : EXIT.failure);
    }
    if (error instanceof KafkaTransportError) {
      // Not the user's input but the cluster: a failure (1), said plainly, without a stack trace.
      if (json) this.logJson({ error: error.message });
      else this.logToStderr(error.message);
      this.exit(EXIT.failure);
    }
    const message = userErrorMessage(error);
    if (message !== undefined) {
      if (json) {
        this.logJson({ error: message });
        this.exit(EXIT.invalid);
      }
      return super.catch(new Errors.CLIError(message, { exit: EXIT.invalid }));
    }
    if (json && !(error instanceof Errors.ExitError)) {
      this.logJson({ error: error.message });
      this.exit(error.oclif?.exit ?? EXIT.failure);
    }
    return super.catch(error);
  }
}

/** A problem as --json prints it: where (file, line, column: null when unknown) and what. */
function problemJson(problem: Problem) {
  return {
    path: problem.path,
    message: problem.message,
    file: problem.location?.file ?? null,
    line: problem.location?.line ?? null,
    column: problem.location?.column ?? null,
  };
}

/** What to tell the user for errors they can fix themselves, with a hint; undefined for the rest. */
function userErrorMessage(error: Error): string | undefined {
  if (error instanceof DirLockedError)
    return `another datamesh process (pid ${error.pid}) is using ${error.dir}; stop it or use another data dir`;
  if (error instanceof NoEmbeddedLogError) return error.message;
  if (error instanceof TransportConfigError) return error.message;
  return undefined;
}
