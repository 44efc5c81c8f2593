import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.stryker-tmp/**', 'reports/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The dashboard runs in the browser, served as it is committed (no build step).
    files: ['src/dashboard/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'sessionStorage', 'fetch', 'EventSource', 'Node', 'Blob', 'URL', 'URLSearchParams', 'FormData', 'AbortController', 'Intl', 'getComputedStyle', 'performance', 'setTimeout', 'clearTimeout'].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    // actors/ is the leaf layer: no HTTP, no config, no environment.
    files: ['actors/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['koa', 'koa-*', '@koa/*', 'ajv', '../src/*', '../../src/*', 'pino'] }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env' }, { object: 'Date', property: 'now' }],
    },
  },
);
