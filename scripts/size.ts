/**
 * `npm run size`: bundles each edge entry point whole (every export, so nothing is
 * tree-shaken away), minifies it with esbuild, gzips it and prints the size. Exits non-zero
 * above a budget: 5 KB for the core client (`sluice/edge`), 8 KB for the client with
 * streaming (`sluice/edge/stream`, which includes the core).
 */
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const ENTRIES = [
  { name: 'edge client (sluice/edge)', file: 'edge/index.ts', budget: 5 * 1024 },
  { name: 'with streaming (sluice/edge/stream)', file: 'edge/streaming.ts', budget: 8 * 1024 },
]

for (const entry of ENTRIES) {
  const result = await build({
    entryPoints: [entry.file],
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
  const share = ((gzipped / entry.budget) * 100).toFixed(0)
  console.log(`${entry.name}: ${code.length} bytes minified, ${gzipped} bytes gzipped`)
  console.log(`  budget: ${entry.budget} bytes gzipped (${share}%)`)
  if (imports.length > 0) {
    console.error(`  the bundle pulls in code from outside edge/ and src/: ${imports.join(', ')}`)
    process.exitCode = 1
  }
  if (gzipped > entry.budget) {
    console.error(`  over budget by ${gzipped - entry.budget} bytes`)
    process.exitCode = 1
  }
}
