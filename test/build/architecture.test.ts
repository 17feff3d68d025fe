/**
 * docs/architecture.md stays true: its layer table names the same folders and files, in the
 * same order, as the layer rule the linter enforces (eslint/layers.js), and every folder of
 * server/ is in it.
 */
import { readdir, readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { LAYERS } from '../../eslint/layers.js'

describe('docs/architecture.md', () => {
  it("lists server/'s layers as eslint/layers.js enforces them", async () => {
    const doc = await readFile('docs/architecture.md', 'utf8')
    const rows = doc
      .split('\n')
      .filter((line) => /^\| \d+ +\|/.test(line))
      .map((line) =>
        [...line.split('|')[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, '')),
      )
    expect(rows.flat()).toEqual(LAYERS.flat())
  })

  it('has every folder and top-level file of server/ in a layer', async () => {
    const entries = (await readdir('server', { withFileTypes: true })).map((entry) => entry.name)
    expect(entries.filter((name) => !LAYERS.flat().includes(name))).toEqual([])
  })
})
