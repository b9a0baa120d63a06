import type { StateStore } from '../contract/context.js';
import type { ChangelogMap } from './changelog-map.js';

/** The state store of one stage: a namespace of a changelog-backed map. */
export function changelogStateStore(map: ChangelogMap, namespace: string): StateStore {
  const prefix = `${namespace}\u0000`;
  return {
    get: <T>(key: string) => map.get<T>(prefix + key),
    put: (key, value) => map.put(prefix + key, value),
    delete: (key) => map.delete(prefix + key),
    *entries(within = '') {
      for (const [k, v] of map.entries(prefix + within))
        yield [k.slice(prefix.length), v] as [string, unknown];
    },
  };
}

/** For stateless processors: state is a declared ability, so using it undeclared is a clear error. */
export function undeclaredStateStore(plugin: string): StateStore {
  const refuse = (): never => {
    throw new Error(
      `processor "${plugin}" is not stateful: pass \`stateful: true\` to defineProcessor() to use ctx.state`,
    );
  };
  return { get: refuse, put: refuse, delete: refuse, entries: refuse };
}
