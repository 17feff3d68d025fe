/**
 * Reads vitest's JSON report (FILE) and prints one plain line, `N passed, M failed`. Exits 1
 * when anything failed, a suite did not load, or the report is missing or empty: a second
 * check beside vitest's own exit code, for .ci/run.
 */
import { readFileSync } from 'node:fs'

const file = process.argv[2]
interface Report {
  numPassedTests?: number
  numFailedTests?: number
  numFailedTestSuites?: number
  numTotalTests?: number
  success?: boolean
}

let report: Report
try {
  report = JSON.parse(readFileSync(file ?? '', 'utf8')) as Report
} catch (error) {
  const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message
  console.log(`0 passed, 0 failed: no test report at ${file} (${reason})`)
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
const failed = report.numFailedTests ?? 0
const badSuites = report.numFailedTestSuites ?? 0
const total = report.numTotalTests ?? 0
let line = `${passed} passed, ${failed} failed`
if (badSuites > 0) line += ` (${badSuites} test files failed)`
console.log(line)
process.exit(failed > 0 || badSuites > 0 || total === 0 || report.success === false ? 1 : 0)
