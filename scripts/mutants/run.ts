/**
 * `npm run test:mutants`: the mutation check. Each mutant of ./list.ts is one small, deliberate
 * bug (a line of the code with one text replaced); the tests named with it must fail once it
 * is in. The mutants are applied, one at a time, to a scratch copy of the working tree (the
 * repository's files, committed or not, with `node_modules` linked), never to the tree itself.
 * One PostgreSQL serves the whole run (TEST_DATABASE_URL when set, else a temporary one).
 *
 *   npm run test:mutants                     every mutant
 *   npm run test:mutants -- --list           the list, without running anything
 *   npm run test:mutants -- --only a,b       the mutants whose id contains a or b
 *   npm run test:mutants -- --keep           keep the scratch copy and the logs
 *
 * Prints one line per mutant (caught, with the first failing test, or SURVIVED) and exits 1
 * when a mutant survives, a mutant's text is no longer in its file (the code moved: update
 * the list), or the tests fail before any mutant is applied.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MUTANTS, type Mutant } from './list.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const MUTANT_TIMEOUT_MS = 5 * 60_000

interface Args {
  list: boolean
  only: string[]
  keep: boolean
}

function parseArgs(argv: string[]): Args {
  const args: Args = { list: false, only: [], keep: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--list') args.list = true
    else if (arg === '--keep') args.keep = true
    else if (arg === '--only') args.only.push(...(argv[++i] ?? '').split(',').filter(Boolean))
    else if (arg.startsWith('--only=')) args.only.push(...arg.slice(7).split(',').filter(Boolean))
    else {
      console.error(`unknown option ${arg}: use --list, --only ID[,ID…] or --keep`)
      process.exit(2)
    }
  }
  return args
}

/** The working tree's files (tracked, and new ones not ignored), copied with node_modules linked. */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mutants-'))
  const listed = spawnSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  )
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`)
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    try {
      cpSync(join(root, file), join(dir, file))
    } catch (error) {
      // A file deleted in the working tree but not yet in git: it is not part of the copy.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return dir
}

/** What one vitest run reported. */
interface RunResult {
  /** Exit code, or null when it was stopped after MUTANT_TIMEOUT_MS. */
  code: number | null
  failed: string[]
  output: string
}

interface JsonReport {
  testResults?: {
    name: string
    message?: string
    assertionResults?: { status: string; fullName: string }[]
  }[]
}

/** Runs vitest on `tests` in `dir`, reading its JSON report. */
function vitest(dir: string, tests: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const report = join(dir, '.mutant-report.json')
  rmSync(report, { force: true })
  const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...tests], {
    cwd: dir,
    env: { ...env, SLUICE_TEST_REPORT: report },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  return new Promise((resolve) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      // The whole group: vitest's workers too.
      process.kill(-child.pid!, 'SIGKILL')
    }, MUTANT_TIMEOUT_MS)
    child.once('exit', (code) => {
      clearTimeout(timer)
      const failed: string[] = []
      try {
        const json = JSON.parse(readFileSync(report, 'utf8')) as JsonReport
        for (const file of json.testResults ?? []) {
          const name = file.name.slice(dir.length + 1)
          for (const test of file.assertionResults ?? [])
            if (test.status === 'failed') failed.push(`${name} > ${test.fullName}`)
          if ((file.assertionResults ?? []).length === 0 && file.message)
            failed.push(`${name} (did not load)`)
        }
      } catch {
        // No report: the exit code and the output say what happened.
      }
      resolve({ code: timedOut ? null : code, failed, output })
    })
  })
}

/** Starts the run's PostgreSQL unless TEST_DATABASE_URL names one. */
async function database(): Promise<{ url: string; stop: () => Promise<void> }> {
  const given = process.env.TEST_DATABASE_URL
  if (given) return { url: given, stop: async () => {} }
  const { startTemporaryPostgres } = await import('../../server/embedded/postgres.js')
  const server = await startTemporaryPostgres({
    prefix: 'sluice-mutants-pg-',
    settings: { max_connections: '300' },
  })
  const pg = (await import('pg')).default
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  await client.query('create database sluice_test')
  await client.end()
  const url = new URL(server.url)
  url.pathname = '/sluice_test'
  return { url: url.toString(), stop: () => server.stop() }
}

function selected(args: Args): Mutant[] {
  if (args.only.length === 0) return MUTANTS
  const chosen = MUTANTS.filter((m) => args.only.some((part) => m.id.includes(part)))
  if (chosen.length === 0) {
    console.error(`no mutant id contains ${args.only.join(' or ')}: see --list`)
    process.exit(2)
  }
  return chosen
}

/** How many times `text` holds `part`. */
function occurrences(text: string, part: string): number {
  return text.split(part).length - 1
}

/** Applies `mutant` to the copy; returns the original text to restore, or a problem. */
function apply(dir: string, mutant: Mutant): { original: string } | { problem: string } {
  const path = join(dir, mutant.file)
  const original = readFileSync(path, 'utf8')
  const count = occurrences(original, mutant.from)
  if (count !== 1) {
    return {
      problem: `its text is in ${mutant.file} ${count} times, not once: update scripts/mutants/list.ts`,
    }
  }
  writeFileSync(
    path,
    original.replace(mutant.from, () => mutant.to),
  )
  return { original }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2))
  const mutants = selected(args)
  if (args.list) {
    // Also checks each mutant's text is still in its file, once: no test runs.
    let stale = 0
    for (const m of mutants) {
      const count = occurrences(readFileSync(join(root, m.file), 'utf8'), m.from)
      if (count !== 1) stale++
      const mark = count === 1 ? '' : ` STALE (its text is there ${count} times)`
      console.log(`${m.id}${mark}\n  ${m.file}: ${m.why}\n  tests: ${m.tests.join(' ')}`)
    }
    console.log(`${mutants.length} mutants${stale > 0 ? `, ${stale} stale` : ''}`)
    return stale > 0 ? 1 : 0
  }

  const dir = scratchCopy()
  const logs = join(dir, '.mutant-logs')
  mkdirSync(logs)
  console.log(`scratch copy: ${dir}`)
  const db = await database()
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_DATABASE_URL: db.url }
  delete env.SLUICE_TEST_REPORT
  let bad = 0
  try {
    // Every named test must pass before any mutant, or a failure would prove nothing.
    const tests = [...new Set(mutants.flatMap((m) => m.tests))]
    const started = Date.now()
    const baseline = await vitest(dir, tests, env)
    writeFileSync(join(logs, 'baseline.log'), baseline.output)
    if (baseline.code !== 0) {
      console.log(`the tests fail without any mutant (see ${join(logs, 'baseline.log')}):`)
      for (const test of baseline.failed) console.log(`  ${test}`)
      args.keep = true
      return 1
    }
    console.log(
      `baseline: ${tests.length} test files pass (${Math.round((Date.now() - started) / 1000)} s)`,
    )

    const survivors: string[] = []
    for (const [i, mutant] of mutants.entries()) {
      const label = `[${i + 1}/${mutants.length}] ${mutant.id}`
      const applied = apply(dir, mutant)
      if ('problem' in applied) {
        bad++
        console.log(`${label}: STALE, ${applied.problem}`)
        continue
      }
      const began = Date.now()
      let result: RunResult
      try {
        result = await vitest(dir, mutant.tests, env)
      } finally {
        writeFileSync(join(dir, mutant.file), applied.original)
      }
      writeFileSync(join(logs, `${mutant.id}.log`), result.output)
      const seconds = `${Math.round((Date.now() - began) / 1000)} s`
      if (result.code === 0) {
        bad++
        survivors.push(mutant.id)
        console.log(`${label}: SURVIVED (${seconds}) ${mutant.file}: ${mutant.why}`)
      } else if (result.code === null) {
        console.log(`${label}: caught by the ${MUTANT_TIMEOUT_MS / 60_000} min timeout (a hang)`)
      } else {
        const first = result.failed[0] ?? 'vitest failed (see its log)'
        const more = result.failed.length > 1 ? ` (+${result.failed.length - 1} more)` : ''
        console.log(`${label}: caught (${seconds}) by ${first}${more}`)
      }
    }
    const caught = mutants.length - bad
    console.log(
      `${caught} of ${mutants.length} mutants caught` +
        (survivors.length > 0 ? `; survived: ${survivors.join(', ')}` : ''),
    )
    return bad > 0 ? 1 : 0
  } finally {
    await db.stop()
    if (args.keep) console.log(`kept ${dir} (logs in ${logs})`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

process.exitCode = await main()
