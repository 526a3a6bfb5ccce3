// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'test-output/**', 'static/**', 'views/**', '*.js', '*.mjs'],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    languageOptions: {
      parserOptions: {
        // One TypeScript program for the whole tree (tsconfig.json includes src/, test/ and bench/).
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The bugs we want caught: a promise nobody awaits loses its rejection (an unhandled rejection kills
      // the process), and an async callback handed to an API that ignores the promise does the same.
      '@typescript-eslint/no-floating-promises': 'error',
      // Express and Node event emitters take `() => void`; an async listener there is the misuse worth flagging,
      // an async function given where a promise-returning one is also fine is not.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: true, attributes: false } }],
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/await-thenable': 'error',

      // Dead code. `_name` marks a parameter a signature requires but this implementation does not read.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // The typescript-eslint version also sees TypeScript's `private` members, not only `#private` ones.
      'no-unused-private-class-members': 'off',
      '@typescript-eslint/no-unused-private-class-members': 'error',

      // The unsafe-* family flags every use of a value typed `any`: JSON.parse results, got/express bodies,
      // upstream SSE payloads and test fixtures, all of which we narrow by hand where it matters. Turned on,
      // they would demand hundreds of casts that add noise, not safety.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // `${count}` of a number or boolean in a log line or message is intended; objects and unknowns stay flagged.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      // Nest modules are empty decorated classes (`@Module({...}) export class XModule {}`).
      '@typescript-eslint/no-extraneous-class': 'off',
      // `unbound-method` misfires on jest's `expect(mock.method).toHaveBeenCalled()` and on Nest's decorators.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Fakes in specs and in the fake upstream implement async interfaces without awaiting anything.
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
    },
  },
  // Last: turns off every stylistic rule Prettier owns.
  prettier,
);
