import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tap/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // noUncheckedIndexedAccess is on; a regex group or a checked index may be asserted.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Plain JavaScript runs on Node: its globals are known.
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
  {
    // The local console's page runs in the browser: its globals, and none of Node's.
    files: ['sandbox/local/console/static/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['window', 'document', 'location', 'history', 'sessionStorage', 'fetch', 'Node', 'TextDecoderStream',
        'setTimeout', 'clearTimeout', 'setInterval', 'URL', 'console'].map((name) => [name, 'readonly'])),
    },
  },
  {
    files: ['test/**', 'sandbox/**', 'scripts/**', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // An event type is named by its constant (EventTypes.X), never by the string:
    // only the catalogue writes the strings (test/events/literals.test.ts checks it too).
    files: ['functions/**', 'shared/**', 'sandbox/**', 'cli/**', 'scripts/**', 'bench/**'],
    ignores: ['shared/events/**', '**/*.test.ts'],
    rules: {
      'no-restricted-syntax': ['error',
        { selector: 'Literal[value=/^dev\\.caretaker\\.[a-z]/]', message: 'Name event types by their constant: EventTypes.<Name> from shared/events/catalogue.ts.' },
        { selector: 'TemplateElement[value.raw=/^dev\\.caretaker\\.[a-z]/]', message: 'Name event types by their constant: EventTypes.<Name> from shared/events/catalogue.ts.' },
      ],
    },
  },
)
