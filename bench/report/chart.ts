/**
 * The latency chart, as hand-written SVG: one panel per network condition, one cumulative
 * distribution line per contender on a logarithmic time axis, with each p50 marked.
 */
import type { ServerlessCase } from '../scenarios/serverless.js'

const COLORS: Record<ServerlessCase['method'], string> = {
  'direct pg': '#d62728',
  PgBouncer: '#ff7f0e',
  'Sluice, kept-alive HTTP': '#2ca02c',
  'Sluice, new HTTP connection': '#1f77b4',
}

const PANEL_W = 470
const PANEL_H = 330
const MARGIN = { left: 52, right: 30, top: 34, bottom: 44 }

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function panel(cases: ServerlessCase[], title: string, offsetX: number): string {
  const all = cases.flatMap((c) => c.samples).filter((v) => v > 0)
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))))
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))))
  const plotW = PANEL_W - MARGIN.left - MARGIN.right
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom
  const x = (ms: number) =>
    offsetX +
    MARGIN.left +
    ((Math.log10(ms) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW
  const y = (q: number) => MARGIN.top + (1 - q) * plotH
  const parts: string[] = []
  parts.push(
    `<text x="${offsetX + PANEL_W / 2}" y="20" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`,
  )
  for (let decade = lo; decade <= hi * 1.0001; decade *= 10) {
    const gx = x(decade).toFixed(1)
    const label = decade < 1 ? `${(decade * 1000).toFixed(0)} µs` : `${decade} ms`
    parts.push(
      `<line x1="${gx}" y1="${y(1)}" x2="${gx}" y2="${y(0)}" stroke="#ddd"/>`,
      `<text x="${gx}" y="${y(0) + 16}" text-anchor="middle" font-size="11">${label}</text>`,
    )
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    parts.push(
      `<line x1="${x(lo)}" y1="${y(q).toFixed(1)}" x2="${x(hi)}" y2="${y(q).toFixed(1)}" stroke="${q === 0.5 ? '#bbb' : '#eee'}"/>`,
      `<text x="${x(lo) - 6}" y="${(y(q) + 4).toFixed(1)}" text-anchor="end" font-size="11">${Math.round(q * 100)}%</text>`,
    )
  }
  parts.push(
    `<text x="${offsetX + MARGIN.left + plotW / 2}" y="${PANEL_H - 8}" text-anchor="middle" font-size="12">latency per invocation (log scale)</text>`,
  )
  for (const c of cases) {
    const sorted = [...c.samples].sort((a, b) => a - b)
    if (sorted.length === 0) continue
    const step = Math.max(1, Math.floor(sorted.length / 400))
    const points: string[] = []
    for (let i = 0; i < sorted.length; i += step) {
      points.push(`${x(sorted[i]!).toFixed(1)},${y((i + 1) / sorted.length).toFixed(1)}`)
    }
    points.push(`${x(sorted[sorted.length - 1]!).toFixed(1)},${y(1).toFixed(1)}`)
    const color = COLORS[c.method]
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`,
      `<circle cx="${x(c.summary.p50).toFixed(1)}" cy="${y(0.5).toFixed(1)}" r="3.5" fill="${color}"/>`,
    )
  }
  return parts.join('\n')
}

/** The SVG document for the serverless cases, one panel per added delay. */
export function latencyChart(cases: ServerlessCase[]): string {
  const delays = [...new Set(cases.map((c) => c.delayMs))]
  const width = PANEL_W * delays.length
  const legendY = PANEL_H + 8
  const methods = [...new Set(cases.map((c) => c.method))]
  const legend = methods
    .map((m, i) => {
      const lx = 20 + i * 230
      return `<line x1="${lx}" y1="${legendY + 8}" x2="${lx + 24}" y2="${legendY + 8}" stroke="${COLORS[m]}" stroke-width="3"/><text x="${lx + 30}" y="${legendY + 12}" font-size="12">${escapeXml(m)}</text>`
    })
    .join('\n')
  const panels = delays
    .map((d, i) =>
      panel(
        cases.filter((c) => c.delayMs === d),
        d === 0
          ? 'Serverless invocation, no added latency'
          : `Serverless invocation, +${d} ms each way`,
        i * PANEL_W,
      ),
    )
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${legendY + 28}" viewBox="0 0 ${width} ${legendY + 28}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
${panels}
${legend}
</svg>
`
}
