/**
 * A node's `/metrics` with workers: the series of every listening worker, aggregated by
 * prom-client's AggregatorRegistry, plus the two series only the primary knows (the node's
 * config reloads, counted once, and the workers missing from this scrape).
 */
import { AggregatorRegistry, Counter, Gauge } from 'prom-client'
import type { Logger } from '../log/logger.js'
import type { WorkerAnswer } from './node-ops.js'

/** What the primary adds to its workers' series. */
export interface NodeSeries {
  /** The node's address, as the `node` label. */
  node: string
  /** The node's reloads by result: each worker counts its own, which would add up to more. */
  reloads: Record<'ok' | 'invalid', number>
  logger: Logger
}

/**
 * The exposition of the workers' `answers` (each a worker's `getMetricsAsJSON()`). A worker
 * that did not answer in time (stopped, or its event loop blocked) is left out of this
 * scrape, counted in `sluice_metrics_workers_missing` and logged, rather than failing the
 * whole node's scrape.
 */
export async function nodeMetrics(answers: WorkerAnswer[], series: NodeSeries): Promise<string> {
  const missing = answers.filter((a) => !a.ok)
  if (missing.length > 0) {
    series.logger.warn(
      { errors: missing.flatMap((a) => (a.ok ? [] : [a.error.message])) },
      'metrics: a worker did not send its series; they are missing from this scrape',
    )
  }
  const registry = AggregatorRegistry.aggregate(
    answers.flatMap((a) => (a.ok ? [a.value as object] : [])),
  )
  const reloads = new Counter({
    name: 'sluice_config_reloads_total',
    help: 'Config reloads, by result (ok, invalid)',
    labelNames: ['result', 'node'],
    registers: [registry],
  })
  for (const [result, count] of Object.entries(series.reloads))
    reloads.inc({ result, node: series.node }, count)
  new Gauge({
    name: 'sluice_metrics_workers_missing',
    help: 'Listening workers whose series are missing from this scrape (they did not answer in time)',
    labelNames: ['node'],
    registers: [registry],
  }).set({ node: series.node }, missing.length)
  return registry.metrics()
}
