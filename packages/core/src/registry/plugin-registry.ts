import type { Plugin, PluginKind, ProcessorPlugin, SinkPlugin, SourcePlugin } from '../contract/plugin.js';

/** A plugin the registry accepted, and the package it came from. */
export interface RegisteredPlugin {
  readonly plugin: Plugin;
  readonly packageName: string;
  readonly packageVersion: string;
  readonly packageDir: string;
}

/** A package that declared a plugin and was refused, with why. */
export interface RefusedPlugin {
  readonly packageName: string;
  readonly packageDir: string;
  readonly reason: string;
}

type ByKind = { source: SourcePlugin; processor: ProcessorPlugin; sink: SinkPlugin };

export class UnknownPluginError extends Error {
  constructor(kind: PluginKind, name: string, available: readonly string[]) {
    super(
      `unknown ${kind} plugin "${name}"; ${
        available.length > 0
          ? `installed ${kind}s: ${available.join(', ')}`
          : `no ${kind} plugin is installed`
      } (install one with \`mesh plugins install <package>\`)`,
    );
    this.name = 'UnknownPluginError';
  }
}

/** The plugins a node or the CLI can use, keyed by kind and name. */
export class PluginRegistry {
  private readonly plugins = new Map<string, RegisteredPlugin>();
  private readonly refusedList: RefusedPlugin[] = [];

  /** Adds a plugin; refuses (and records) a second plugin of the same kind and name. */
  add(entry: RegisteredPlugin): boolean {
    const id = `${entry.plugin.kind}:${entry.plugin.name}`;
    const existing = this.plugins.get(id);
    if (existing) {
      this.refuse({
        packageName: entry.packageName,
        packageDir: entry.packageDir,
        reason: `duplicate ${entry.plugin.kind} plugin "${entry.plugin.name}": already provided by ${existing.packageName}@${existing.packageVersion} (${existing.packageDir})`,
      });
      return false;
    }
    this.plugins.set(id, entry);
    return true;
  }

  refuse(refusal: RefusedPlugin): void {
    this.refusedList.push(refusal);
  }

  get<K extends PluginKind>(kind: K, name: string): ByKind[K] {
    const entry = this.plugins.get(`${kind}:${name}`);
    if (!entry) throw new UnknownPluginError(kind, name, this.names(kind));
    return entry.plugin as ByKind[K];
  }

  find<K extends PluginKind>(kind: K, name: string): ByKind[K] | undefined {
    return this.plugins.get(`${kind}:${name}`)?.plugin as ByKind[K] | undefined;
  }

  names(kind: PluginKind): string[] {
    return this.list()
      .filter((p) => p.plugin.kind === kind)
      .map((p) => p.plugin.name);
  }

  list(): RegisteredPlugin[] {
    return [...this.plugins.values()].sort((a, b) =>
      `${a.plugin.kind}:${a.plugin.name}`.localeCompare(`${b.plugin.kind}:${b.plugin.name}`),
    );
  }

  refused(): readonly RefusedPlugin[] {
    return this.refusedList;
  }
}
