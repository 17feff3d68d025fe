/**
 * The config file's JSON Schema, generated from the one zod schema so the two never
 * drift. Published as docs/config.schema.json (`npm run schema` rewrites it) so editors
 * autocomplete a config that starts with `"$schema": "./docs/config.schema.json"`.
 */
import { z } from 'zod'
import { configSchema } from './schema.js'

/** The JSON Schema of a config file, as written (defaults optional). */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }),
    title: 'Sluice gateway configuration',
  }
}

/** The JSON Schema as the text of docs/config.schema.json. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`
}
