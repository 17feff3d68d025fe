/** Whether PostgreSQL's `psql` client is installed (CI installs it; a laptop may not have it). */
import { execFileSync } from 'node:child_process'

/** True when `psql --version` runs. */
export function hasPsql(): boolean {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
