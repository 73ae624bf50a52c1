// Lint: typescript-eslint's recommended rules, plus the project's own bans
// (dns.lookup / getaddrinfo is never used: docs/egress.md §Names and IP literals).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error',
        { object: 'dns', property: 'lookup', message: 'Never resolve with getaddrinfo: use egress/resolve.ts (docs/egress.md §Names and IP literals).' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Read the environment only in core/env.ts.' },
      ],
    },
  },
  {
    files: ['core/env.ts', 'test/**', 'benchmarks/**', '.ci/**', 'compose/build-images.mjs'],
    rules: { 'no-restricted-syntax': 'off' },
  },
)
