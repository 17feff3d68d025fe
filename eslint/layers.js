// @ts-check
/**
 * The folders of server/ form layers (docs/architecture.md): a folder may import its own
 * files and the folders below it, never one above, so no two folders import each other.
 * This rule checks every relative import of a file under server/ against that order.
 */
import { dirname, relative, resolve, sep } from 'node:path'

/** Lowest first. Top-level files count as the layer named here; others are free. */
export const LAYERS = [
  ['errors.ts', 'startup-error.ts', 'config', 'lifecycle'],
  ['pool'],
  ['metrics'],
  ['log'],
  ['cache'],
  ['tenants'],
  ['engine'],
  ['admin'],
  ['cluster'],
  ['wire'],
  ['http'],
  ['embedded'],
  ['gateway.ts', 'index.ts'],
  ['cli'],
  ['main.ts'],
]

const rank = new Map(LAYERS.flatMap((names, i) => names.map((name) => [name, i])))

/** The layer entry of a path under server/, or undefined outside it. */
function entryOf(root, file) {
  const path = relative(resolve(root, 'server'), file)
  if (path.startsWith('..')) return undefined
  return path.split(sep)[0]
}

/** @type {import('eslint').Rule.RuleModule} */
export const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'server/ folders import only their own layer and the ones below' },
    schema: [],
  },
  create(context) {
    const root = context.cwd
    const from = entryOf(root, context.filename)
    if (from === undefined || !rank.has(from)) return {}
    const check = (node) => {
      const source = node.source?.value
      if (typeof source !== 'string' || !source.startsWith('.')) return
      const to = entryOf(root, resolve(dirname(context.filename), source.replace(/\.js$/, '.ts')))
      if (to === undefined || to === from || !rank.has(to)) return
      if (rank.get(to) > rank.get(from)) {
        context.report({
          node: node.source,
          message: `server/${from} may not import server/${to}: ${to} is a layer above ${from} (docs/architecture.md). Pass what it needs in from above, or move the shared code down.`,
        })
      }
    }
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ImportExpression: check,
    }
  },
}
