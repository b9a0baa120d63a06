import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.cache/**', '.nx/**', '**/__fixtures__/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['packages/*/src/**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      // Plugins reach core only through its public entry; core imports no plugin; apps load plugins via the registry.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:core', onlyDependOnLibsWithTags: [] },
            // scope:services is tools/services (useServices() for integration tests): test code only.
            // A plugin may build on a transport as a library (sink-kafka writes to another Kafka cluster
            // through @datamesh/transport-kafka rather than a second Kafka client of its own).
            {
              sourceTag: 'scope:plugin',
              onlyDependOnLibsWithTags: [
                'scope:core',
                'scope:lib',
                'scope:transport',
                'scope:testkit',
                'scope:services',
              ],
            },
            // Libraries plugins share (the expression language) build on core alone.
            { sourceTag: 'scope:lib', onlyDependOnLibsWithTags: ['scope:core', 'scope:testkit'] },
            { sourceTag: 'scope:testkit', onlyDependOnLibsWithTags: ['scope:core'] },
            // Transports implement core's Transport interface; only apps choose one.
            {
              sourceTag: 'scope:transport',
              onlyDependOnLibsWithTags: ['scope:core', 'scope:testkit', 'scope:services'],
            },
            {
              sourceTag: 'scope:app',
              onlyDependOnLibsWithTags: ['scope:core', 'scope:transport', 'scope:services'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Plugins and core receive configuration; read the environment only in the CLI.',
        },
      ],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/*/src/**/*.test.ts', 'packages/*/src/**/__fixtures__/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@datamesh/services', '@datamesh/services/*'],
              message: 'The service harness is for tests.',
            },
          ],
        },
      ],
    },
  },
  {
    // The repository's own scripts (service harness, benchmarks, test runner) run on Node.
    files: ['tools/**/*.mjs', 'tools/**/*.js'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['packages/cli/src/**/*.ts', 'packages/**/*.test.ts', 'packages/testkit/src/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
