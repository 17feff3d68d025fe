/**
 * The mutants of `npm run test:mutants` (./run.ts): each one a small bug in behaviour that
 * matters, and the tests that must catch it. `from` must occur exactly once in `file`; when
 * the code moves, the run says so and the entry is updated here. Add one with every test
 * written to catch a bug: the list is what keeps the suite honest.
 */

/** One deliberate bug. */
export interface Mutant {
  /** Kebab-case and stable: `--only` matches on it. */
  id: string
  /** The file, from the repository's root. */
  file: string
  /** The exact text replaced (once). */
  from: string
  to: string
  /** The test files that must fail with it. */
  tests: string[]
  /** The bug, in a few words. */
  why: string
}

export const MUTANTS: Mutant[] = [
  // ---- The pool ----
  {
    id: 'pool-max',
    file: 'server/pool/pool.ts',
    from: 'this.size < this.options.max\n',
    to: 'this.size < this.options.max + 1\n',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'the pool opens one connection more than pool.max',
  },
  {
    id: 'pool-acquire-timeout',
    file: 'server/pool/pool.ts',
    from: '}, acquireTimeoutMs),',
    to: '}, acquireTimeoutMs * 100),',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'a waiting request outlives acquireTimeoutMs',
  },
  {
    id: 'pool-max-waiting',
    file: 'server/pool/pool.ts',
    from: 'this.waiters.length >= maxWaiting',
    to: 'this.waiters.length > maxWaiting',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'one request more than maxWaiting may wait',
  },
  {
    id: 'pool-health-check',
    file: 'server/pool/pool.ts',
    from: 'if (now - connection.lastUsedAt < this.options.healthCheckAfterIdleMs) return true',
    to: 'if (now - connection.lastUsedAt >= 0) return true',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'no health check before lending a connection that sat idle',
  },
  {
    id: 'pool-health-check-always',
    file: 'server/pool/pool.ts',
    from: 'if (now - connection.lastUsedAt < this.options.healthCheckAfterIdleMs) return true',
    to: 'if (now - connection.lastUsedAt < 0) return true',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'every borrow pays a health check, whatever healthCheckAfterIdleMs says',
  },
  {
    id: 'pool-most-recently-used',
    file: 'server/pool/pool.ts',
    from: 'const connection = this.idle.pop()!',
    to: 'const connection = this.idle.shift()!',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'the pool lends the longest-idle connection instead of the one returned last',
  },
  {
    id: 'pool-returns-bad',
    file: 'server/pool/pool.ts',
    from: "connection.transactionStatus !== 'I') this.counters.returnsBad++",
    to: "connection.transactionStatus === 'X') this.counters.returnsBad++",
    tests: ['test/server/pool/pool.test.ts', 'test/server/metrics.test.ts'],
    why: 'a connection returned inside a transaction is not counted in returnsBad',
  },
  {
    id: 'session-reset-rollback',
    file: 'server/pool/session-reset.ts',
    from: "if (connection.transactionStatus !== 'I') await connection.simple('ROLLBACK')",
    to: '',
    tests: ['test/server/pool/pool.test.ts'],
    why: 'no ROLLBACK before the session reset of a connection returned inside a transaction',
  },
]
