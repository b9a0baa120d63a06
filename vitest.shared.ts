import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `@datamesh/source` export condition,
// so tests never need a build first.
const conditions = ['@datamesh/source', 'import', 'module', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@datamesh/source'] } },
  test: {
    allowOnly: false,
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
