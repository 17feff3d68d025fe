/**
 * One problem of a configuration, kept with the path it is about, so a problem that only
 * follows from another (a value left empty by a missing `${VAR}`) can be left out.
 */
import { redactValue } from './redact.js'

/** A problem: `at` is its path (`tenants.acme.pool.max`), `text` the whole line. */
export interface Problem {
  at: string
  text: string
}

/** `tenants.acme.pool.max`; `(root)` for the document itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.')
}

/** A value as a problem line quotes it: JSON, secrets redacted. */
export function show(path: readonly PropertyKey[], value: unknown): string {
  return JSON.stringify(redactValue(path, value)) ?? 'undefined'
}

/** Whether `problem` is about `path` or something inside it. */
export function isUnder(problem: Problem, path: string): boolean {
  return problem.at === path || problem.at.startsWith(`${path}.`)
}
