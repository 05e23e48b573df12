// typescript-eslint's recommended rules over every TypeScript source: extension, CLI, core,
// kernels, webview, tests, benchmarks. Formatting is prettier's (npm run format:check).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'out/',
      'bench/dist/',
      'bench/node_modules/',
      '.vscode-test/',
      'test-results/',
      'native/build/',
      'test/fixtures/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // require() is left only where the path is known at run time: the .node addon, scripts
      // loaded by absolute path from compiled tests, the benchmarks' own node_modules.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  // Plain JavaScript build and test scripts: Node, and the pages some of them drive.
  { files: ['**/*.mjs', '**/*.cjs'], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
