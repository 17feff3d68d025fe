import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { configJsonSchemaText } from '../../server/config/json-schema.js'
import { ERROR_STATUS, RETRY_AFTER_SECONDS, type ErrorCode } from '../../src/errors.js'

const doc = (name: string) => readFile(new URL(`../../docs/${name}`, import.meta.url), 'utf8')

type Schema = {
  $ref?: string
  properties?: Record<string, Schema>
  additionalProperties?: Schema | boolean
  anyOf?: Schema[]
  oneOf?: Schema[]
  allOf?: Schema[]
}

/**
 * The config schema's keys as `a.b.c` paths (`*` for a tenant's name): `values`, the keys
 * that take a value (an array counts as one), and `objects`, the keys that hold more keys.
 */
function schemaKeys(root: Schema): { values: Set<string>; objects: Set<string> } {
  const values = new Set<string>()
  const objects = new Set<string>()
  const resolve = (ref: string) =>
    ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<any>((node, key) => node[key], root) as Schema
  const branches = (node: Schema): Schema[] => {
    const resolved = node.$ref ? resolve(node.$ref) : node
    const alternatives = [
      ...(resolved.anyOf ?? []),
      ...(resolved.oneOf ?? []),
      ...(resolved.allOf ?? []),
    ]
    return [resolved, ...alternatives.flatMap(branches)]
  }
  const walk = (node: Schema, path: string[]): void => {
    for (const branch of branches(node)) {
      if (typeof branch.additionalProperties === 'object') {
        objects.add([...path, '*'].join('.'))
        walk(branch.additionalProperties, [...path, '*'])
      }
      for (const [key, child] of Object.entries(branch.properties ?? {})) {
        const holds = branches(child).some(
          (b) => b.properties !== undefined || typeof b.additionalProperties === 'object',
        )
        ;(holds ? objects : values).add([...path, key].join('.'))
        walk(child, [...path, key])
      }
    }
  }
  walk(root, [])
  values.delete('$schema')
  return { values, objects }
}

/**
 * The keys docs/configuration.md documents: each table row's `key`s under the heading of its
 * section (`## \`server\``, `### \`pool\`` below `## \`tenants.<name>\``).
 */
function documentedKeys(text: string): Set<string> {
  const keys = new Set<string>()
  let top: string | undefined
  let section: string | undefined
  for (const line of text.split('\n')) {
    const heading = /^(#{2,3}) (.*)$/.exec(line)
    if (heading) {
      const name = /^`([^`]+)`$/.exec(heading[2]!)?.[1]?.replace('<name>', '*')
      if (heading[1] === '##') top = name
      section =
        name === undefined || name.includes('.') || heading[1] === '##' ? name : `${top}.${name}`
      continue
    }
    // A row may name several keys: | `host`, `port` | …
    const first = /^\| (`[^|]+?)\s*\|/.exec(line)?.[1]
    if (first === undefined || section === undefined) continue
    for (const [, key] of first.matchAll(/`([^`]+)`/g)) keys.add(`${section}.${key}`)
  }
  return keys
}

describe('the docs name what the code has', () => {
  it('documents every config key in docs/configuration.md, and no key the config does not have', async () => {
    const documented = documentedKeys(await doc('configuration.md'))
    const { values, objects } = schemaKeys(JSON.parse(configJsonSchemaText()) as Schema)
    expect(values.size).toBeGreaterThan(50)
    expect([...values].filter((key) => !documented.has(key))).toEqual([])
    expect([...documented].filter((key) => !values.has(key) && !objects.has(key))).toEqual([])
  })

  it('lists every error code in docs/protocol.md with its HTTP status and whether to retry', async () => {
    const rows = (await doc('protocol.md')).split('\n')
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const row = rows.find((line) => line.startsWith(`| \`${code}\``))
      expect(row, code).toBeDefined()
      const cells = row!.split('|').map((cell) => cell.trim())
      expect(cells[2], code).toBe(String(status))
      // Codes answered with a Retry-After are retryable ('yes', or 'see left' where it depends).
      if (RETRY_AFTER_SECONDS[code as ErrorCode] !== undefined)
        expect(['yes', 'see left'], code).toContain(cells[4])
    }
  })
})
