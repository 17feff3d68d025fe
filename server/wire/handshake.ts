/**
 * A wire connection's first moments: SSLRequest (TLS when a certificate is configured),
 * CancelRequest, the startup packet, authentication, admission, then the session's
 * ParameterStatus, BackendKeyData and ReadyForQuery. The token is the password: asked in
 * cleartext where the connection is encrypted or local (TLS, a WebSocket behind TLS,
 * loopback), and proven with SCRAM-SHA-256 everywhere else. Admission is the gateway's
 * one way in (server/tenants/admission.ts).
 */
import type { Duplex } from 'node:stream'
import { isPostgresError } from '../engine/db-error.js'
import { admit, type Admitted } from '../tenants/admission.js'
import type { Tenant } from '../tenants/tenant.js'
import { errorFieldsOf } from './errors.js'
import {
  BodyReader,
  MalformedMessage,
  authenticationCleartext,
  authenticationOk,
  authenticationSasl,
  authenticationSaslContinue,
  authenticationSaslFinal,
  errorResponse,
  negotiateProtocolVersion,
  type ErrorFields,
} from './messages.js'
import { MessageReader, OversizedMessage, bodyOf, type WireMessage } from './reader.js'
import { ScramError, ScramExchange } from './scram.js'
import type { WireServer, WireTransport } from './server.js'
import { WireSession } from './session.js'
import { applySettingsSql, readClientParameters, readStartupPacket } from './startup.js'

/**
 * PostgreSQL's own limit on a startup packet; the handshake takes no message larger (the
 * password messages included), so what a client holds in the gateway before it has
 * authenticated is bounded by it.
 */
export const MAX_STARTUP_BYTES = 10_000

class Closed extends Error {}

/** Reads a connection's packets one at a time, awaiting each. */
class Incoming {
  readonly reader: MessageReader
  private stream: Duplex
  private wake: (() => void) | undefined
  private ended = false

  constructor(stream: Duplex, maxBytes: number) {
    this.stream = stream
    this.reader = new MessageReader(maxBytes)
    this.listen()
  }

  /** Swaps the stream (after the TLS upgrade). */
  replace(stream: Duplex): void {
    this.stop()
    this.stream = stream
    this.listen()
  }

  /** The client closed or ended its side. */
  get gone(): boolean {
    return this.ended
  }

  stop(): void {
    this.stream.off('data', this.onData)
    this.stream.off('end', this.onEnd)
    this.stream.off('close', this.onEnd)
    this.stream.off('error', this.onEnd)
  }

  async untyped(): Promise<Buffer> {
    for (;;) {
      const packet = this.reader.nextUntyped()
      if (packet) return packet
      await this.more()
    }
  }

  async typed(): Promise<WireMessage> {
    for (;;) {
      const next = this.reader.next()
      if (next) return next
      await this.more()
    }
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Closed()
    this.stream.resume()
    await new Promise<void>((resolve) => (this.wake = resolve))
    if (this.ended && this.reader.pending === 0) throw new Closed()
  }

  private listen(): void {
    this.stream.on('data', this.onData)
    this.stream.on('end', this.onEnd)
    this.stream.on('close', this.onEnd)
    this.stream.on('error', this.onEnd)
  }

  private readonly onData = (chunk: Buffer) => {
    this.reader.push(chunk)
    // More than a message's worth while the handshake is busy (authenticating, admitting):
    // the rest waits in the socket until asked for, or until the session reads it.
    if (this.reader.pending > this.reader.maxLength) this.stream.pause()
    this.wakeUp()
  }

  private readonly onEnd = () => {
    this.ended = true
    this.wakeUp()
  }

  private wakeUp(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

/** Sends a FATAL error; the connection is then closed (see {@link handshake}'s `finally`). */
function fatal(stream: Duplex, fields: ErrorFields): void {
  stream.write(errorResponse({ ...fields, severity: 'FATAL' }))
}

const PASSWORD_FAILED = (user: string): ErrorFields => ({
  severity: 'FATAL',
  code: '28P01',
  message: `password authentication failed for user "${user}"`,
  hint: 'The password is a Sluice token of the tenant (docs/wire.md).',
})

/** The tokens a SCRAM proof is checked against: the tenant named as user, else all. */
function candidateTokens(server: WireServer, user: string): string[] {
  const { tenants } = server.deps.config()
  const plain = (name: string) =>
    (tenants[name]?.tokens ?? []).flatMap((entry) => ('token' in entry ? [entry.token] : []))
  const all = Object.keys(tenants).flatMap(plain)
  server.keyring.keep(new Set(all))
  // Own keys only: `in` would take a user named `constructor` for a tenant with no tokens.
  return Object.hasOwn(tenants, user) ? plain(user) : all
}

/** Reads the password message: its body as a string, or the SASL messages' bytes. */
async function passwordMessage(incoming: Incoming): Promise<Buffer> {
  const next = await incoming.typed()
  if (next.type !== 112) throw new MalformedMessage('expected a password message')
  return bodyOf(next)
}

async function authenticate(
  server: WireServer,
  transport: WireTransport,
  stream: Duplex,
  incoming: Incoming,
  user: string,
): Promise<string | undefined> {
  const cleartext =
    !server.options.scramOnly && (transport.secure || isLoopback(transport.remoteAddress))
  if (cleartext) {
    stream.write(authenticationCleartext())
    return new BodyReader(await passwordMessage(incoming)).cstring()
  }
  stream.write(authenticationSasl())
  const initial = new BodyReader(await passwordMessage(incoming))
  if (initial.cstring() !== 'SCRAM-SHA-256')
    throw new ScramError('only SCRAM-SHA-256 is offered (no channel binding)')
  const length = initial.int32()
  const exchange = new ScramExchange(server.keyring)
  const first = initial.body.toString('utf8', initial.offset, initial.offset + Math.max(0, length))
  stream.write(authenticationSaslContinue(exchange.first(first)))
  const final = (await passwordMessage(incoming)).toString('utf8')
  const proven = await exchange.final(final, candidateTokens(server, user))
  if (!proven) return undefined
  stream.write(authenticationSaslFinal(proven.serverFinal))
  return proven.token
}

/** Runs a connection's handshake, then its session (or answers its CancelRequest). */
export async function handshake(server: WireServer, transport: WireTransport): Promise<void> {
  let stream = transport.stream
  const incoming = new Incoming(stream, MAX_STARTUP_BYTES)
  const timer = setTimeout(() => stream.destroy(), server.options.handshakeTimeoutMs)
  let opened = false
  try {
    let packet = readStartupPacket(await incoming.untyped())
    // Each request once, in either order (libpq with Kerberos credentials asks GSSAPI first,
    // then TLS), as PostgreSQL allows; none once TLS is on.
    const asked = new Set<string>()
    while (packet.kind === 'ssl' || packet.kind === 'gssenc') {
      if (asked.has(packet.kind) || asked.has('tls'))
        throw new MalformedMessage('encryption was already negotiated')
      asked.add(packet.kind)
      // Bytes sent after the request, before TLS, would be taken as if they were encrypted.
      if (incoming.reader.pending > 0) throw new MalformedMessage('data after the SSLRequest')
      if (packet.kind === 'ssl' && transport.startTls) {
        stream.write('S')
        asked.add('tls')
        stream = transport.startTls()
        transport = { ...transport, stream, secure: true }
        incoming.replace(stream)
      } else stream.write('N')
      packet = readStartupPacket(await incoming.untyped())
    }
    if (packet.kind === 'cancel') {
      server.cancel(packet.processId, packet.secretKey)
      return
    }
    const client = readClientParameters(packet.parameters)
    if ('refused' in client) return fatal(stream, client.refused)
    if (packet.minor > 0 || client.unsupportedOptions.length > 0)
      stream.write(negotiateProtocolVersion(0, client.unsupportedOptions))
    const token = await authenticate(server, transport, stream, incoming, client.user)
    if (token === undefined) return fatal(stream, PASSWORD_FAILED(client.user))
    const admission = server.deps.admission
    let admitted: Admitted
    let parameters: ReadonlyMap<string, string>
    try {
      ;({ admitted, parameters } = await admit(
        admission,
        { token, howToAuthenticate: PASSWORD_FAILED(client.user).message },
        async (a) => ({ admitted: a, parameters: await backendParameters(a.tenant, client) }),
      ))
    } catch (error) {
      if (isPostgresError(error))
        return fatal(stream, { severity: 'FATAL', code: error.code, message: error.message })
      const fields = errorFieldsOf(error)
      return fatal(stream, fields.code === '28P01' ? PASSWORD_FAILED(client.user) : fields)
    }
    // The client left while it was admitted: no session would ever hear it close.
    if (incoming.gone) return
    opened = true
    clearTimeout(timer)
    incoming.stop()
    transport.authenticated?.()
    stream.write(authenticationOk())
    new WireSession(server, {
      stream,
      reader: incoming.reader,
      transport,
      client,
      token,
      tenant: admitted.tenant,
      role: admitted.principal.role,
      parameters,
      maxMessageBytes: admission.bodyLimitBytes,
    })
  } catch (error) {
    if (error instanceof Closed) return
    if (
      error instanceof MalformedMessage ||
      error instanceof OversizedMessage ||
      error instanceof ScramError
    ) {
      return fatal(stream, { severity: 'FATAL', code: '08P01', message: error.message })
    }
    stream.destroy()
    throw error
  } finally {
    clearTimeout(timer)
    if (!opened) {
      // No session: what the client sends now is dropped, not buffered, and a client that
      // never closes its side keeps the socket no longer than a handshake may take.
      incoming.stop()
      stream.end()
      const closing = setTimeout(() => stream.destroy(), server.options.handshakeTimeoutMs)
      closing.unref()
      stream.once('close', () => clearTimeout(closing))
    }
  }
}

// The ParameterStatus values of each pool's backends, learnt from the first one borrowed.
const learnt = new WeakMap<object, ReadonlyMap<string, string>>()

/**
 * The values a session reports at startup: its backends' (learnt once per pool), with the
 * client's own settings and application_name. Settings are tried on a backend first, so a
 * bad value fails the connection rather than every transaction.
 */
async function backendParameters(
  tenant: Tenant,
  client: { settings: ReadonlyMap<string, string> },
): Promise<ReadonlyMap<string, string>> {
  const { pool } = tenant
  const known = learnt.get(pool)
  if (known && client.settings.size === 0) return known
  const connection = await pool.acquire(undefined, 'wire startup')
  try {
    if (client.settings.size > 0) await connection.simple(applySettingsSql(client.settings))
  } finally {
    pool.release(connection)
  }
  learnt.set(pool, connection.parameters)
  return connection.parameters
}
