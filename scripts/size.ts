/**
 * `npm run size`: prints the minified and gzipped size of the whole edge client (see
 * edge-size.ts). Exits non-zero above the budget of 5 KB or when it pulls in other code.
 */
import { EDGE_BUDGET_BYTES, measureEdgeBundle } from './edge-size.js'

const { minified, gzipped, outside } = await measureEdgeBundle()

console.log(`edge client: ${minified} bytes minified, ${gzipped} bytes gzipped`)
console.log(
  `budget: ${EDGE_BUDGET_BYTES} bytes gzipped (${((gzipped / EDGE_BUDGET_BYTES) * 100).toFixed(0)}%)`,
)
if (outside.length > 0) {
  console.error(`the bundle pulls in code from outside edge/ and src/: ${outside.join(', ')}`)
  process.exitCode = 1
}
if (gzipped > EDGE_BUDGET_BYTES) {
  console.error(`over budget by ${gzipped - EDGE_BUDGET_BYTES} bytes`)
  process.exitCode = 1
}
