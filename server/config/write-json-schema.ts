/** `npm run schema`: rewrites docs/config.schema.json from the zod schema. */
import { writeFile } from 'node:fs/promises'
import { configJsonSchemaText } from './json-schema.js'

await writeFile(new URL('../../docs/config.schema.json', import.meta.url), configJsonSchemaText())
console.log('wrote docs/config.schema.json')
