/**
 * Streaming (issue 15): one large result read three ways, side by side: `psql -c "COPY (…)
 * TO STDOUT"` (the practical limit: PostgreSQL's own text, no parsing), `pg` with a cursor
 * in-process (pg-cursor, 10,000 rows a fetch, values parsed), and Sluice's edge client
 * (`db.stream()` from `sluice/edge/stream`, COPY text lines, values parsed) over HTTP, and
 * the gateway's stream in each of its formats read by fetch and not parsed (its own pace). Then the time to the first row against
 * PostgreSQL's own, and 30 slow readers at once, with the gateway's resident set read from
 * /proc throughout.
 */
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import pg from 'pg'
import Cursor from 'pg-cursor'
import { createClient } from '../../edge/streaming.js'
import { COPY_TEXT_MEDIA_TYPE, NDJSON_MEDIA_TYPE } from '../../src/protocol.js'
import { processCpuSeconds } from '../lib/cpu.js'
import { percentile } from '../lib/stats.js'
import { rssMiB, sleep } from '../lib/system.js'

/** The table every contender reads, whole. */
export const STREAM_TABLE = 'stream_rows'
const STREAM_SQL = `select * from ${STREAM_TABLE}`
// A short query for the time to the first row, measured many times.
const FIRST_ROW_SQL = `select * from ${STREAM_TABLE} limit 50`

/** One contender's read of the whole table. */
export interface StreamRun {
  system:
    | 'psql COPY TO STDOUT'
    | 'pg + pg-cursor, in-process'
    | 'Sluice, edge client db.stream()'
    | 'Sluice, NDJSON read by fetch, not parsed'
    | 'Sluice, COPY text read by fetch, not parsed'
  rows: number
  seconds: number
  rowsPerSecond: number
  /** Megabytes (10^6) of PostgreSQL's text output per second (COPY's byte count). */
  mbPerSecond: number
  /** From sending the query to the first row (COPY: from starting psql, connect included). */
  firstRowMs: number
  /** The gateway's peak RSS above its idle RSS during the read (Sluice only). */
  gatewayPeakAboveIdleMiB?: number
  /** The gateway's CPU time (user + system) per row, µs (Sluice only). */
  gatewayCpuUsPerRow?: number
  /** The reader's CPU time per row, µs (readers in the bench process). */
  readerCpuUsPerRow?: number
}

/** CPU time of the gateway and of this process from here on, per row read. */
function cpuMeter(
  gatewayPid: number,
): (rows: number) => Pick<StreamRun, 'gatewayCpuUsPerRow' | 'readerCpuUsPerRow'> {
  const gateway = processCpuSeconds(gatewayPid)
  const reader = process.cpuUsage()
  return (rows) => {
    const used = process.cpuUsage(reader)
    return {
      gatewayCpuUsPerRow: ((processCpuSeconds(gatewayPid) - gateway) * 1e6) / rows,
      readerCpuUsPerRow: (used.user + used.system) / rows,
    }
  }
}

/** Everything the scenario measured. */
export interface StreamResult {
  rows: number
  /** Bytes of COPY's text output for the table. */
  textBytes: number
  runs: StreamRun[]
  firstRow: {
    samples: number
    /** pg-cursor, the first row of a portal (PostgreSQL's first row), p50. */
    postgresP50Ms: number
    /** The edge client through the gateway, p50. */
    sluiceP50Ms: number
  }
  slowReaders: {
    clients: number
    seconds: number
    /** Bytes each client read per second, about. */
    bytesPerSecondEach: number
    rowsRead: number
    gatewayIdleRssMiB: number
    gatewayPeakAboveIdleMiB: number
  }
}

/** Options of {@link runStream}. */
export interface StreamOptions {
  databaseUrl: string
  gatewayUrl: string
  gatewayPid: number
  token: string
  rows: number
  slowSeconds: number
}

/** Creates and fills the table (about 100 bytes of text per row). */
export async function createStreamTable(databaseUrl: string, rows: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(`drop table if exists ${STREAM_TABLE}`)
    await client.query(
      `create unlogged table ${STREAM_TABLE} as
       select n as id, md5(n::text) as name, ((n::int8 * 7919) % 100000)::int4 as score,
              timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second' as created_at,
              'note ' || (n % 1000) as note
       from generate_series(1, ${rows}) n`,
    )
    await client.query(`vacuum analyze ${STREAM_TABLE}`)
  } finally {
    await client.end()
  }
}

/** Peak resident set since the last reset, in MiB (VmHWM), and how to reset it. */
async function peakMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /VmHWM:\s+(\d+) kB/.exec(status)
  return match ? Number(match[1]) / 1024 : Number.NaN
}
const resetPeak = (pid: number) => writeFile(`/proc/${pid}/clear_refs`, '5')

async function copyRun(databaseUrl: string, rows: number): Promise<StreamRun & { bytes: number }> {
  const started = performance.now()
  let first = 0
  let bytes = 0
  const child = spawn('psql', [databaseUrl, '-X', '-q', '-c', `COPY (${STREAM_SQL}) TO STDOUT`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child.stdout.on('data', (chunk: Buffer) => {
    if (first === 0) first = performance.now()
    bytes += chunk.length
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`psql exited with ${code}`)
  const seconds = (performance.now() - started) / 1000
  return {
    system: 'psql COPY TO STDOUT',
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    mbPerSecond: bytes / 1e6 / seconds,
    firstRowMs: first - started,
    bytes,
  }
}

async function cursorRun(databaseUrl: string, textBytes: number): Promise<StreamRun> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const started = performance.now()
    const cursor = client.query(new Cursor(STREAM_SQL))
    let first = 0
    let rows = 0
    for (;;) {
      const batch = await cursor.read(10_000)
      if (first === 0) first = performance.now()
      if (batch.length === 0) break
      rows += batch.length
    }
    await cursor.close()
    const seconds = (performance.now() - started) / 1000
    return {
      system: 'pg + pg-cursor, in-process',
      rows,
      seconds,
      rowsPerSecond: rows / seconds,
      mbPerSecond: textBytes / 1e6 / seconds,
      firstRowMs: first - started,
    }
  } finally {
    await client.end()
  }
}

/**
 * One read of the whole table through the gateway by `read` (which answers the rows it read
 * and when the first came), with the gateway's peak RSS and the CPU of both sides.
 */
async function gatewayRun(
  options: StreamOptions,
  textBytes: number,
  system: StreamRun['system'],
  read: () => Promise<{ rows: number; first: number }>,
): Promise<StreamRun> {
  await resetPeak(options.gatewayPid)
  const idle = await rssMiB(options.gatewayPid)
  const cpu = cpuMeter(options.gatewayPid)
  const started = performance.now()
  const { rows, first } = await read()
  const seconds = (performance.now() - started) / 1000
  return {
    ...cpu(rows),
    system,
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    mbPerSecond: textBytes / 1e6 / seconds,
    firstRowMs: first - started,
    gatewayPeakAboveIdleMiB: (await peakMiB(options.gatewayPid)) - idle,
  }
}

/** The edge client, values parsed. */
function sluiceRun(options: StreamOptions, textBytes: number): Promise<StreamRun> {
  const db = createClient({ url: options.gatewayUrl, token: options.token, timeoutMs: 3_600_000 })
  return gatewayRun(options, textBytes, 'Sluice, edge client db.stream()', async () => {
    let first = 0
    let rows = 0
    for await (const _row of db.stream(STREAM_SQL, [], { rowMode: 'array' })) {
      if (rows++ === 0) first = performance.now()
    }
    return { rows, first }
  })
}

/** The gateway's own pace: its stream in one format read by fetch and counted, nothing parsed. */
function rawRun(
  options: StreamOptions,
  textBytes: number,
  format: 'NDJSON' | 'COPY text',
): Promise<StreamRun> {
  const accept = format === 'NDJSON' ? NDJSON_MEDIA_TYPE : COPY_TEXT_MEDIA_TYPE
  return gatewayRun(options, textBytes, `Sluice, ${format} read by fetch, not parsed`, async () => {
    const res = await fetch(`${options.gatewayUrl}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.token}`, accept },
      body: JSON.stringify({ sql: STREAM_SQL, timeoutMs: 3_600_000 }),
    })
    const reader = res.body!.getReader()
    let first = 0
    let lines = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (first === 0) first = performance.now()
      for (let i = value.indexOf(10); i >= 0; i = value.indexOf(10, i + 1)) lines++
    }
    // The first line holds the fields and the last the command tag.
    return { rows: lines - 2, first }
  })
}

/** p50 of the time to the first row: pg-cursor's `read(1)` vs the edge client's first row. */
async function firstRow(
  options: StreamOptions,
  samples: number,
): Promise<StreamResult['firstRow']> {
  const client = new pg.Client({ connectionString: options.databaseUrl })
  await client.connect()
  const db = createClient({ url: options.gatewayUrl, token: options.token })
  const postgres: number[] = []
  const sluice: number[] = []
  try {
    // Warm both paths (and the gateway's prepared code) before measuring.
    for (let i = 0; i < samples + 10; i++) {
      let started = performance.now()
      const cursor = client.query(new Cursor(FIRST_ROW_SQL))
      await cursor.read(1)
      const pgMs = performance.now() - started
      await cursor.close()
      started = performance.now()
      let sluiceMs = 0
      for await (const _row of db.stream(FIRST_ROW_SQL)) {
        if (sluiceMs === 0) sluiceMs = performance.now() - started
      }
      if (i >= 10) {
        postgres.push(pgMs)
        sluice.push(sluiceMs)
      }
    }
  } finally {
    await client.end()
  }
  const p50 = (values: number[]) =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    )
  return { samples, postgresP50Ms: p50(postgres), sluiceP50Ms: p50(sluice) }
}

/** 30 clients each reading a whole-table stream slowly, for `seconds`, then leaving. */
async function slowReaders(
  options: StreamOptions,
  clients: number,
): Promise<StreamResult['slowReaders']> {
  const pauseMs = 200
  await resetPeak(options.gatewayPid)
  const idle = await rssMiB(options.gatewayPid)
  const controller = new AbortController()
  let rowsRead = 0
  let bytes = 0
  const readers = Array.from({ length: clients }, async () => {
    try {
      const res = await fetch(`${options.gatewayUrl}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, accept: NDJSON_MEDIA_TYPE },
        body: JSON.stringify({ sql: STREAM_SQL, timeoutMs: 3_600_000 }),
        signal: controller.signal,
      })
      const reader = res.body!.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        bytes += value.length
        for (let i = value.indexOf(10); i >= 0; i = value.indexOf(10, i + 1)) rowsRead++
        await sleep(pauseMs)
      }
    } catch {
      // Aborted at the end, as intended.
    }
  })
  await sleep(options.slowSeconds * 1000)
  const peak = await peakMiB(options.gatewayPid)
  controller.abort()
  await Promise.all(readers)
  return {
    clients,
    seconds: options.slowSeconds,
    bytesPerSecondEach: bytes / clients / options.slowSeconds,
    rowsRead,
    gatewayIdleRssMiB: idle,
    gatewayPeakAboveIdleMiB: peak - idle,
  }
}

/** Runs the streaming scenario. */
export async function runStream(
  options: StreamOptions,
  log: (line: string) => void,
): Promise<StreamResult> {
  const copy = await copyRun(options.databaseUrl, options.rows)
  log(
    `stream: COPY ${copy.rows.toLocaleString('en-US')} rows, ${(copy.bytes / 1e6).toFixed(0)} MB in ${copy.seconds.toFixed(1)} s`,
  )
  const cursor = await cursorRun(options.databaseUrl, copy.bytes)
  log(`stream: pg-cursor ${cursor.seconds.toFixed(1)} s`)
  const sluice = await sluiceRun(options, copy.bytes)
  log(
    `stream: Sluice ${sluice.seconds.toFixed(1)} s, gateway peak +${sluice.gatewayPeakAboveIdleMiB!.toFixed(1)} MiB, CPU per row gateway ${sluice.gatewayCpuUsPerRow!.toFixed(2)} µs, client ${sluice.readerCpuUsPerRow!.toFixed(2)} µs`,
  )
  const ndjson = await rawRun(options, copy.bytes, 'NDJSON')
  log(
    `stream: NDJSON by fetch ${ndjson.seconds.toFixed(1)} s, gateway ${ndjson.gatewayCpuUsPerRow!.toFixed(2)} µs/row`,
  )
  const copyText = await rawRun(options, copy.bytes, 'COPY text')
  log(
    `stream: COPY text by fetch ${copyText.seconds.toFixed(1)} s, gateway ${copyText.gatewayCpuUsPerRow!.toFixed(2)} µs/row`,
  )
  const first = await firstRow(options, 50)
  log(
    `stream: first row p50 PostgreSQL ${first.postgresP50Ms.toFixed(2)} ms, Sluice ${first.sluiceP50Ms.toFixed(2)} ms`,
  )
  // Let the pool refill after the cancelled slow readers of a previous run, if any.
  await sleep(500)
  const slow = await slowReaders(options, 30)
  log(
    `stream: 30 slow readers, gateway peak +${slow.gatewayPeakAboveIdleMiB.toFixed(1)} MiB over ${slow.seconds} s`,
  )
  const { bytes: textBytes, ...copyRunResult } = copy
  return {
    rows: options.rows,
    textBytes,
    runs: [copyRunResult, cursor, sluice, copyText, ndjson],
    firstRow: first,
    slowReaders: slow,
  }
}
