import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import { EDGE_BUDGET_BYTES, EDGE_ENTRIES, measureEdgeBundle } from '../../scripts/edge-size.js'

// What `import 'sluice/edge'` ships: bundled for a browser, it must need nothing but the
// client's own files and Web APIs.
describe('the edge client bundle', () => {
  it('has no dependency and uses no Node API', async () => {
    const result = await build({
      entryPoints: ['edge/index.ts', 'edge/examples/worker.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      outdir: 'out',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.filter((path) => !/^(edge|src)\//.test(path))).toEqual([])
    for (const file of result.outputFiles) {
      expect(file.text).not.toMatch(/\bBuffer\b|\bprocess\.|require\(|from ["']node:/)
    }
  })

  it('keeps only what is imported (tree-shakable ESM)', async () => {
    const result = await build({
      stdin: { contents: "export { sql } from './edge/index.ts'", resolveDir: '.', loader: 'ts' },
      bundle: true,
      format: 'esm',
      write: false,
      metafile: true,
    })
    const [output] = Object.values(result.metafile.outputs)
    const used = Object.entries(output!.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([path]) => path)
    expect(used).toEqual(['edge/sql.ts'])
  })

  it('stays within its budget of 5 KB gzipped, adapters and all left out', async () => {
    const { gzipped, outside } = await measureEdgeBundle()
    expect(outside).toEqual([])
    expect(gzipped).toBeLessThanOrEqual(EDGE_BUDGET_BYTES)
  })

  it('keeps each entry point within its budget (streaming: 8 KB)', async () => {
    for (const entry of EDGE_ENTRIES) {
      const { gzipped, outside } = await measureEdgeBundle(entry.file)
      expect(outside, entry.name).toEqual([])
      expect(gzipped, entry.name).toBeLessThanOrEqual(entry.budget)
    }
  })
})
