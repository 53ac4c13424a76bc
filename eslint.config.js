// Lint for the whole repo: typescript-eslint strict type-checked, prettier for formatting, and
// the rule that keeps the core free of any host (VS Code, JupyterLab).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['**/node_modules/', '**/dist/', '**/lib/', '**/*.js', '**/*.cjs', '**/*.mjs'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        project: ['./tsconfig.all.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  {
    files: ['packages/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'packages/core must not depend on VS Code.' }],
          patterns: [
            { group: ['@jupyterlab/*'], message: 'packages/core must not depend on JupyterLab.' },
            { group: ['vscode/*'], message: 'packages/core must not depend on VS Code.' },
          ],
        },
      ],
    },
  },
  prettier,
);
