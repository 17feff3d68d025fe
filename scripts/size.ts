/**
 * `npm run size`: prints the minified and gzipped size of each edge entry point (see
 * edge-size.ts). Exits non-zero above a budget (5 KB for the core client, 8 KB for the
 * client with streaming) or when a bundle pulls in other code.
 */
import { EDGE_ENTRIES, measureEdgeBundle } from './edge-size.js'

for (const entry of EDGE_ENTRIES) {
  const { minified, gzipped, outside } = await measureEdgeBundle(entry.file)
  const share = ((gzipped / entry.budget) * 100).toFixed(0)
  console.log(`${entry.name}: ${minified} bytes minified, ${gzipped} bytes gzipped`)
  console.log(`  budget: ${entry.budget} bytes gzipped (${share}%)`)
  if (outside.length > 0) {
    console.error(`  the bundle pulls in code from outside edge/ and src/: ${outside.join(', ')}`)
    process.exitCode = 1
  }
  if (gzipped > entry.budget) {
    console.error(`  over budget by ${gzipped - entry.budget} bytes`)
    process.exitCode = 1
  }
}
