/**
 * Counters and histograms for the per-request hot path, kept in plain maps and rendered by
 * prom-client's registry like its own metrics (same text, same order). prom-client checks
 * and hashes the label object on every `inc`/`observe`; a request updates several series,
 * and that bookkeeping was a measurable share of a pooled `SELECT 1` (bench/NOTES.md).
 * Here a series is looked up once by its label values and then updated in place.
 */
import type { Registry } from 'prom-client'

type Labels = Record<string, string>

interface ExportedValue {
  value: number
  labels: Record<string, string | number>
  sharedLabels?: Labels
  metricName?: string
}

interface Exported {
  name: string
  help: string
  type: 'counter' | 'histogram'
  values: ExportedValue[]
  aggregator: 'sum'
}

/** Options shared by {@link FastCounter} and {@link FastHistogram}. */
export interface FastMetricOptions {
  name: string
  help: string
  labelNames: readonly string[]
  registers: Registry[]
}

abstract class FastMetric<S> {
  readonly name: string
  readonly help: string
  protected readonly labelNames: readonly string[]
  protected series = new Map<string, { labels: Labels; data: S }>()

  constructor(options: FastMetricOptions) {
    this.name = options.name
    this.help = options.help
    this.labelNames = options.labelNames
    for (const registry of options.registers) registry.registerMetric(this as never)
  }

  protected abstract create(): S

  /** The series of these label values (in `labelNames` order), created on first use. */
  protected lookup(values: readonly string[]): S {
    const key = values.length === 1 ? values[0]! : values.join('\u0000')
    let entry = this.series.get(key)
    if (!entry) {
      const labels: Labels = {}
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''))
      entry = { labels, data: this.create() }
      this.series.set(key, entry)
    }
    return entry.data
  }

  /** Forgets every series (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.series.clear()
  }

  abstract getForPromString(): Promise<Exported>

  /** The values with their labels merged, as prom-client's `get()` gives them. */
  async get(): Promise<Exported> {
    const exported = await this.getForPromString()
    exported.values = exported.values.map(({ labels, sharedLabels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }))
    return exported
  }
}

/** A labelled counter whose series are found by label values. */
export class FastCounter extends FastMetric<{ value: number }> {
  protected create(): { value: number } {
    return { value: 0 }
  }

  /** Adds `by` to the series of `values`. */
  inc(values: readonly string[], by = 1): void {
    this.lookup(values).value += by
  }

  async getForPromString(): Promise<Exported> {
    const values = [...this.series.values()].map(({ labels, data }) => ({
      value: data.value,
      labels: { ...labels },
    }))
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' }
  }
}

interface HistogramData {
  counts: number[]
  sum: number
  count: number
}

/** Options of {@link FastHistogram}. */
export interface FastHistogramOptions extends FastMetricOptions {
  /** Upper bounds, ascending. */
  buckets: readonly number[]
}

/** A labelled histogram whose series are found by label values. */
export class FastHistogram extends FastMetric<HistogramData> {
  private readonly buckets: readonly number[]

  constructor(options: FastHistogramOptions) {
    super(options)
    this.buckets = options.buckets
  }

  protected create(): HistogramData {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 }
  }

  /** Adds `value` to the series of `values` (in `labelNames` order). */
  observe(values: readonly string[], value: number): void {
    const data = this.lookup(values)
    const { buckets } = this
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        data.counts[i]!++
        break
      }
    }
    data.sum += value
    data.count++
  }

  async getForPromString(): Promise<Exported> {
    const name = `${this.name}_bucket`
    const values: ExportedValue[] = []
    for (const { labels, data } of this.series.values()) {
      let cumulative = 0
      this.buckets.forEach((le, i) => {
        cumulative += data.counts[i]!
        values.push({ labels: { le }, sharedLabels: labels, value: cumulative, metricName: name })
      })
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: data.count, metricName: name },
        { labels: {}, sharedLabels: labels, value: data.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: labels, value: data.count, metricName: `${this.name}_count` },
      )
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' }
  }
}
