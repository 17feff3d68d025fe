/** `sluice token`: a new random token and the sha256 a config stores instead of it. */
import { randomBytes } from 'node:crypto'
import { hashToken } from '../tenants/tokens.js'
import { ConfigError } from '../config/load.js'
import type { CliIo } from './io.js'

/** A new random token (32 bytes, base64url: 43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Runs `sluice token`; returns the exit code. */
export function tokenCommand(args: readonly string[], io: CliIo): number {
  let role = 'readwrite'
  let json = false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--json') json = true
    else if (arg === '--role') role = args[++i] ?? ''
    else if (arg.startsWith('--role=')) role = arg.slice('--role='.length)
    else throw new ConfigError([`token: unknown argument "${arg}" (see sluice token --help)`])
  }
  if (role !== 'readwrite' && role !== 'readonly')
    throw new ConfigError([`token: --role must be readwrite or readonly, not "${role}"`])
  const token = generateToken()
  const sha256 = hashToken(token)
  if (json) {
    io.out(JSON.stringify({ token, sha256, role }))
    return 0
  }
  io.out(`token:  ${token}`)
  io.out(`sha256: ${sha256}`)
  io.out('')
  io.out(
    'Give the token to the client (Authorization: Bearer <token>); put the hash in the config:',
  )
  io.out(`  "tokens": [{ "sha256": "${sha256}", "role": "${role}" }]`)
  return 0
}
