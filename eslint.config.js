// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { layers } from './eslint/layers.js'

const runtimeNeutral =
  'src/ and edge/ run in every runtime (Workers, Deno, Bun, browsers): use Web APIs only. ' +
  'Put Node, pg, hono and zod code in server/, and share only plain types and functions through src/.'

const httpBoundary =
  'Hono, node:http and the Hono environment live under server/http/ (docs/architecture.md): ' +
  'put the HTTP side there and call down into tenants/, engine/ or admin/.'

const httpOnly = [
  { group: ['hono', 'hono/*', '@hono/*', 'node:http', 'node:https'], message: httpBoundary },
  { group: ['**/http/env.js', '**/http/env'], message: httpBoundary },
]

const nodeOnly = [
  { group: ['node:*'], message: runtimeNeutral },
  // Anchored: `drizzle-orm/pg-core` (an adapter's peer dependency) is not `pg`.
  { regex: '^(pg|pg-[^/]+|hono|@hono/[^/]+|zod)(/.*)?$', message: runtimeNeutral },
]

export default tseslint.config(
  {
    ignores: [
      'node_modules',
      '**/dist',
      '.wrangler',
      '.sluice',
      'bench/.work',
      'test/edge/adapters/prisma/generated',
    ],
  },
  { files: ['eslint/**/*.js'], languageOptions: { globals: { process: 'readonly' } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ExportAllDeclaration',
          message: 'List exports by name (STYLE.md habit 9): no export *.',
        },
      ],
    },
  },
  {
    // Tests read JSON bodies loosely; the types under test are checked with expectTypeOf.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeOnly,
            {
              group: ['**/server/**', '**/edge/**'],
              message: 'src/ is the shared base: server/ and edge/ import it, never the reverse.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['edge/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeOnly,
            {
              group: ['**/server/**'],
              message: 'edge/ talks to the gateway over HTTP only; share code through src/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['server/**/*.ts'],
    plugins: { sluice: { rules: { layers } } },
    rules: {
      'sluice/layers': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/edge/**'],
              message: 'server/ and edge/ never import each other; share code through src/.',
            },
            ...httpOnly,
          ],
        },
      ],
    },
  },
  {
    // The HTTP boundary itself; gateway.ts exposes the app as its public handle.
    files: ['server/http/**/*.ts', 'server/gateway.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/edge/**'],
              message: 'server/ and edge/ never import each other; share code through src/.',
            },
          ],
        },
      ],
    },
  },
)
