// Lint: typescript-eslint's recommended rules, the project's own bans (dns.lookup / getaddrinfo is
// never used: docs/egress.md §Names and IP literals), and the layer rule (docs/ARCHITECTURE.md): dependencies point one way,
//   core ← signals ← policy ← config ← {egress, proxy, profiles, aggregator} ← sidecar ← {compose, local} ← cli
// and nothing outside enterprise/ (but its tests, test/enterprise/) imports enterprise/; an
// import() takes a string literal, except in the enterprise loader.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import boundaries from 'eslint-plugin-boundaries'
import { LAYER_ELEMENTS, LAYER_POLICIES } from './eslint.layers.js'

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
        // The layer rule can only check an import() whose specifier is a string literal; the one
        // computed import() is the enterprise loader's (cli/enterprise.ts), which says so.
        { selector: "ImportExpression[source.type!='Literal']", message: 'import() takes a string literal (the layer rule checks it); only the enterprise loader, cli/enterprise.ts, computes one.' },
      ],
    },
  },
  {
    // The layer rule. Elements and policies live in eslint.layers.js (a test plants bad imports against them).
    files: ['**/*.ts', '**/*.mts', '**/*.mjs', '**/*.js'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': LAYER_ELEMENTS,
      'boundaries/include': ['**/*.{ts,mts,mjs,js}'],
      'boundaries/root-path': import.meta.dirname,
      'import/resolver': { typescript: { project: './tsconfig.json' }, node: true },
    },
    rules: {
      'boundaries/dependencies': ['error', { default: 'allow', policies: LAYER_POLICIES }],
    },
  },
  {
    files: ['core/env.ts', 'test/**', 'benchmarks/**', '.ci/**', 'compose/build-images.mjs'],
    rules: { 'no-restricted-syntax': 'off' },
  },
)
