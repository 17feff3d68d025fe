/**
 * The edge client's size as `npm run size` and the bundle test measure it: every export of
 * edge/index.ts bundled (so nothing is tree-shaken away), minified by esbuild, gzipped.
 */
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/** The budget of the whole edge client, gzipped. */
export const EDGE_BUDGET_BYTES = 5 * 1024

/** What the bundle weighs and which files outside edge/ and src/ it pulled in. */
export interface EdgeSize {
  minified: number
  gzipped: number
  /** Inputs from outside edge/ and src/: none is the rule. */
  outside: string[]
}

/** Bundles, minifies and gzips the edge client. */
export async function measureEdgeBundle(): Promise<EdgeSize> {
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
  return {
    minified: code.length,
    gzipped: gzipSync(code, { level: 9 }).length,
    outside: Object.keys(result.metafile.inputs).filter((path) => !/^(edge|src)\//.test(path)),
  }
}
