/** What every section of RESULTS.md shares: a target's verdict, and how numbers are written. */

/** A target of an issue and how this run did. */
export interface TargetVerdict {
  target: string
  measured: string
  met: boolean
  gap: string
}

/** Requests (or rows) per second, with thousands separators. */
export const rate = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 })

/** A ratio such as `0.54×`; `n/a` when it cannot be computed. */
export const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a')
