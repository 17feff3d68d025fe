/**
 * Where the gateway's CPU goes under load: a V8 CPU profile (`node --cpu-prof`) of the
 * gateway while wrk drives the point query at concurrency 64, summarised by self time per
 * function and per area (pg driver, Hono, zod, node core, Sluice's own code, GC, idle).
 */
import { readFile, rm } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import type { ConfigInput } from '../../server/config/schema.js'
import { startGateway } from '../lib/gateway.js'
import { wrk, type ThroughputRun } from './throughput.js'

/** Self time of one function or area, as a share of the profile. */
export interface ProfileEntry {
  name: string
  area: string
  ms: number
  share: number
}

/** The profile's summary. */
export interface ProfileResult {
  run: ThroughputRun
  totalMs: number
  areas: { area: string; ms: number; share: number }[]
  top: ProfileEntry[]
}

interface CpuProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}

interface CpuProfile {
  nodes: CpuProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Which part of the stack a frame belongs to. */
export function areaOf(url: string, functionName: string): string {
  if (functionName === '(idle)') return 'idle (waiting for I/O)'
  if (functionName === '(garbage collector)') return 'garbage collector'
  if (functionName === '(program)') return 'V8 / native (program)'
  if (/node_modules\/(pg|pg-protocol|pg-types|pg-pool)\//.test(url)) return 'pg driver'
  if (/node_modules\/(hono|@hono)\//.test(url)) return 'Hono + @hono/node-server'
  if (/node_modules\/zod\//.test(url)) return 'zod'
  if (/node_modules\/(tsx|esbuild)\//.test(url)) return 'tsx loader'
  if (/node_modules\//.test(url)) return 'other packages'
  if (/\/(server|src)\//.test(url)) return 'Sluice (server/, src/)'
  if (url.startsWith('node:')) return 'node core (http, net, streams)'
  return 'V8 builtins / native'
}

function label(frame: CpuProfileNode['callFrame']): string {
  const where = frame.url
    ? `${basename(dirname(frame.url))}/${basename(frame.url)}:${frame.lineNumber + 1}`
    : ''
  return `${frame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`
}

/** Summarises a .cpuprofile file by self time. */
export async function summarizeProfile(
  file: string,
  topN = 25,
): Promise<Omit<ProfileResult, 'run'>> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const byName = new Map<string, { area: string; us: number }>()
  const byArea = new Map<string, number>()
  let totalUs = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (!node) continue
    totalUs += us
    const area = areaOf(node.callFrame.url, node.callFrame.functionName)
    byArea.set(area, (byArea.get(area) ?? 0) + us)
    const name = label(node.callFrame)
    const entry = byName.get(name) ?? { area, us: 0 }
    entry.us += us
    byName.set(name, entry)
  }
  const share = (us: number) => (totalUs === 0 ? 0 : us / totalUs)
  return {
    totalMs: totalUs / 1000,
    areas: [...byArea.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: us / 1000, share: share(us) })),
    top: [...byName.entries()]
      .filter(([, e]) => !e.area.startsWith('idle'))
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, topN)
      .map(([name, e]) => ({ name, area: e.area, ms: e.us / 1000, share: share(e.us) })),
  }
}

/** Profiles a fresh gateway under wrk load. */
export async function runProfile(
  config: ConfigInput,
  token: string,
  seconds: number,
  log: (line: string) => void,
): Promise<ProfileResult> {
  const gateway = await startGateway(config, { profile: true })
  let run: ThroughputRun
  let file: string | undefined
  try {
    run = await wrk(gateway.url, token, 'point query', 64, seconds)
  } finally {
    file = await gateway.stop()
  }
  if (!file) throw new Error('the gateway wrote no CPU profile')
  const summary = await summarizeProfile(file)
  await rm(dirname(file), { recursive: true, force: true })
  log(
    `profile: ${summary.areas
      .slice(0, 6)
      .map((a) => `${a.area} ${(a.share * 100).toFixed(1)}%`)
      .join(', ')}`,
  )
  return { run, ...summary }
}
