/**
 * `npm run size`: bundles the whole edge client (every export of edge/index.ts, so nothing
 * is tree-shaken away), minifies it with esbuild, gzips it and prints the size. Exits
 * non-zero above the budget of 5 KB.
 */
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const BUDGET_BYTES = 5 * 1024

const result = await build({
  entryPoints: ['edge/index.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  write: false,
  metafile: true,
})
const code = result.outputFiles[0]!.contents
const gzipped = gzipSync(code, { level: 9 }).length
const imports = Object.keys(result.metafile.inputs).filter((path) => !/^(edge|src)\//.test(path))

console.log(`edge client: ${code.length} bytes minified, ${gzipped} bytes gzipped`)
console.log(
  `budget: ${BUDGET_BYTES} bytes gzipped (${((gzipped / BUDGET_BYTES) * 100).toFixed(0)}%)`,
)
if (imports.length > 0) {
  console.error(`the bundle pulls in code from outside edge/ and src/: ${imports.join(', ')}`)
  process.exitCode = 1
}
if (gzipped > BUDGET_BYTES) {
  console.error(`over budget by ${gzipped - BUDGET_BYTES} bytes`)
  process.exitCode = 1
}
