import { defineConfig, mergeConfig } from 'vitest/config';
import shared from './vitest.shared.js';

// The whole suite in one run: every package and tool, sharing one worker pool.
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      include: ['packages/*/src/**/*.test.ts', 'tools/**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**'],
      // Integration tests start the real services they need through useServices(); this stops them after.
      globalSetup: ['tools/test/services-global-setup.mjs'],
    },
  }),
);
