import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `@datamesh/source` export condition,
// so tests never need a build first.
const conditions = ['@datamesh/source', 'import', 'module', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  // Only our own condition reaches Node (vitest hands ssr conditions to its workers as --conditions): 'import'
  // there would make require() of dual packages (pg-pool, long) load their ES module builds.
  ssr: { resolve: { conditions: ['@datamesh/source', 'node'], externalConditions: ['@datamesh/source'] } },
  test: {
    allowOnly: false,
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
