/**
 * The edge client's size as `npm run size` and the bundle test measure it: every export of
 * an entry point bundled (so nothing is tree-shaken away), minified by esbuild, gzipped.
 */
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/** An entry point of the client and its budget, gzipped. */
export interface EdgeEntry {
  name: string
  file: string
  budget: number
}

/** The core client (`sluice/edge`) and the client with streaming (`sluice/edge/stream`). */
export const EDGE_ENTRIES: readonly EdgeEntry[] = [
  { name: 'edge client (sluice/edge)', file: 'edge/index.ts', budget: 5 * 1024 },
  { name: 'with streaming (sluice/edge/stream)', file: 'edge/streaming.ts', budget: 8 * 1024 },
]

/** The budget of the core edge client, gzipped. */
export const EDGE_BUDGET_BYTES = EDGE_ENTRIES[0]!.budget

/** What a bundle weighs and which files outside edge/ and src/ it pulled in. */
export interface EdgeSize {
  minified: number
  gzipped: number
  /** Inputs from outside edge/ and src/: none is the rule. */
  outside: string[]
}

/** Bundles, minifies and gzips one entry point of the edge client. */
export async function measureEdgeBundle(file = 'edge/index.ts'): Promise<EdgeSize> {
  const result = await build({
    entryPoints: [file],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    metafile: true,
  })
  const code = result.outputFiles[0]!.contents
  return {
    minified: code.length,
    gzipped: gzipSync(code, { level: 9 }).length,
    outside: Object.keys(result.metafile.inputs).filter((path) => !/^(edge|src)\//.test(path)),
  }
}
