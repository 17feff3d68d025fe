import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, eventually } from '../../helpers/gateway.js'
import { hasPsql } from '../../helpers/psql.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

const available = hasPsql()
if (!available) {
  console.warn(
    '\n*** SKIPPING the psql tests: psql is not installed (apt-get install postgresql-client; .ci/run installs it) ***\n',
  )
}

describe.skipIf(!available)('psql through the TCP listener', () => {
  let t: WireGateway
  let dir: string
  const table = `wire_psql_${process.pid}`

  /** Runs psql (never blocking this process, which serves the gateway) and returns stdout. */
  const psql = (args: string[], password = t.token, extraEnv: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'psql',
        ['-X', '-h', '127.0.0.1', '-p', String(t.pgPort), '-U', 'main', '-d', 'main', ...args],
        {
          env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', ...extraEnv },
          timeout: 20_000,
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      )
    })

  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 2 } })
    dir = await mkdtemp(join(tmpdir(), 'sluice-psql-'))
    await chmod(dir, 0o755)
    await admin(`create table ${table} (id int, name text)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await rm(dir, { recursive: true, force: true })
    await t?.close()
  })

  it('runs queries and transactions, with psql reading the answers', async () => {
    const result = await psql([
      '-A',
      '-t',
      '-c',
      'select 40 + 2',
      '-c',
      'begin',
      '-c',
      `insert into ${table} values (1, 'one')`,
      '-c',
      'commit',
      '-c',
      `select name from ${table}`,
    ])
    expect(result.stderr).toBe('')
    expect(result.stdout.split('\n').filter(Boolean)).toEqual([
      '42',
      'BEGIN',
      'INSERT 0 1',
      'COMMIT',
      'one',
    ])
  })

  it('passes COPY FROM STDIN and COPY TO STDOUT through', async () => {
    const input = join(dir, 'in.csv')
    const output = join(dir, 'out.csv')
    const lines = Array.from({ length: 2000 }, (_, i) => `${i + 10},name ${i}`)
    await writeFile(input, `${lines.join('\n')}\n`)
    const copyIn = await psql(['-c', `\\copy ${table} from '${input}' with (format csv)`])
    expect(copyIn.stderr).toBe('')
    expect(copyIn.stdout.trim()).toBe('COPY 2000')
    const copyOut = await psql([
      '-c',
      `\\copy (select id, name from ${table} where id >= 10 order by id) to '${output}' with (format csv)`,
    ])
    expect(copyOut.stdout.trim()).toBe('COPY 2000')
    expect((await readFile(output, 'utf8')).trim().split('\n')).toEqual(lines)
    // A COPY that fails mid-stream leaves the session usable and the pool clean.
    await writeFile(input, '1,ok\nnot-a-number,bad\n')
    const failed = await psql([
      '-c',
      `\\copy ${table} from '${input}' with (format csv)`,
      '-c',
      'select 7',
    ])
    expect(failed.stderr).toContain('invalid input syntax for type integer')
    // psql exits once it sent Terminate; the gateway releases the backend as it reads that.
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
  })

  it('says why a wrong token fails, in PostgreSQL words', async () => {
    const result = await psql(['-c', 'select 1'], 'not-a-token-of-this-gateway')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('password authentication failed for user "main"')
  })

  it('keeps a readonly token read-only, even for psql', async () => {
    const result = await psql(
      ['-v', 'ON_ERROR_STOP=1', '-c', `insert into ${table} values (99, 'no')`],
      t.readonlyToken,
    )
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('read-only transaction')
  })

  it('applies the DateStyle and search_path a client gives at connect time, per borrowed backend', async () => {
    const result = await psql(
      ['-A', '-t', '-c', "select '2024-03-04'::date", '-c', 'show search_path'],
      t.token,
      { PGOPTIONS: '-c DateStyle=German -c search_path=pg_catalog' },
    )
    expect(result.stderr).toBe('')
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['04.03.2024', 'pg_catalog'])
    expect(t.gateway.wire.pinnedCount()).toBe(0)
    const refused = await psql(['-c', 'select 1'], t.token, { PGOPTIONS: '-c work_mem=1GB' })
    expect(refused.stderr).toContain('startup parameter "work_mem" is not supported')
  })
})
