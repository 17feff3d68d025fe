/**
 * wrk POSTing `/v1/query` to a gateway: a warm-up second (optional), then the measured
 * run, read back from the script's one summary line.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run } from './system.js'

/** What one wrk run measured. */
export interface WrkRun {
  concurrency: number
  /** Successful answers per second. */
  rps: number
  /** Milliseconds. */
  p50: number
  p99: number
  /** Socket errors plus non-2xx answers. */
  errors: number
}

/**
 * Runs wrk with one thread and `concurrency` connections; `body` is a Lua expression that
 * builds each request's JSON body. Throws when no request succeeded: such a run measures
 * nothing.
 */
export async function runWrk(
  url: string,
  token: string,
  body: string,
  concurrency: number,
  seconds: number,
  warmUp = true,
): Promise<WrkRun> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-wrk-'))
  try {
    const script = join(dir, 'query.lua')
    await writeFile(
      script,
      `
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer ${token}"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, "/v1/query", nil, ${body})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
`,
    )
    const args = ['-t', '1', '-c', String(concurrency), '-s', script]
    if (warmUp) await run('wrk', [...args, '-d', '1s', url])
    const output = await run('wrk', [...args, '-d', `${seconds}s`, '--timeout', '10s', url], {
      timeoutMs: (seconds + 60) * 1000,
    })
    const match = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(output)
    if (!match) throw new Error(`wrk printed no result:\n${output}`)
    const [requests, durationUs, socketErrors, non2xx, p50, p99] = match.slice(1).map(Number)
    if (requests! > 0 && non2xx! + socketErrors! >= requests!)
      throw new Error(
        `every request failed (${non2xx} non-2xx answers, ${socketErrors} socket errors)`,
      )
    return {
      concurrency,
      rps: (requests! - non2xx!) / (durationUs! / 1e6),
      p50: p50! / 1000,
      p99: p99! / 1000,
      errors: socketErrors! + non2xx!,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
