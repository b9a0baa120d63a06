import type { Consumer } from '../transport.js';

/**
 * A consumer passing every call on to `inner`, except those `change` replaces. (Not `Object.create(inner)`: the
 * inner consumer's methods would then run with the wrapper as `this`, which its consumer group does not know.)
 */
export function delegatingConsumer(inner: Consumer, change: Partial<Consumer> = {}): Consumer {
  return {
    poll: (options) => inner.poll(options),
    commit: (offsets) => inner.commit(offsets),
    committed: () => inner.committed(),
    lag: () => inner.lag(),
    assignment: () => inner.assignment(),
    ...(inner.readUpTo
      ? { readUpTo: (topic: string, ends: readonly number[]) => inner.readUpTo!(topic, ends) }
      : {}),
    close: () => inner.close(),
    ...change,
  };
}
