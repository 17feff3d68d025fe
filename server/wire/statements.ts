/**
 * Protocol-level named prepared statements, pooled per transaction as PgBouncer's
 * max_prepared_statements does it: a client's `Parse` of a named statement is remembered by
 * the session (its text and parameter types); each backend prepares it, under a name of its
 * own (`sluice_<connection>_<n>`, see server/pool/prepared.ts), the first time a client of
 * the tenant needs it there, and keeps it for every later client that sends the same text.
 * Bind, Describe and Close name the client's statement; the relay rewrites the name.
 */
import { createHash } from 'node:crypto'
import { analyzeSql, type SqlAnalysis } from '../engine/analyze.js'
import {
  BodyReader,
  MalformedMessage,
  PARSE_COMPLETE,
  cstring,
  errorResponse,
  message,
  type ErrorFields,
} from './messages.js'
import { bodyOf, rawOf, type WireMessage } from './reader.js'
import { UNTIL } from './pending.js'
import type { Relay } from './relay.js'

/** Statements one session may hold: a client that never closes them cannot grow for ever. */
export const MAX_CLIENT_STATEMENTS = 10_000
/** And their text, in bytes: 10,000 statements of a megabyte each would not fit in memory. */
export const MAX_CLIENT_STATEMENT_BYTES = 16 * 1024 * 1024

/** A Parse that fails in PostgreSQL's parser, to make a refusal fail the way PostgreSQL does. */
const POISON = Buffer.concat([cstring('SLUICE REFUSED'), Buffer.from([0, 0])])

/**
 * Told of each statement about to be bound (its text and analysis, and the portal it is
 * bound to); returns a refusal (readonly rules), or undefined to let it run.
 */
export type BindCheck = (
  text: string,
  analysis: SqlAnalysis,
  portal: string,
) => ErrorFields | undefined

/** A client's named statement. */
export interface ClientStatement {
  /**
   * The SHA-256 of its text and parameter types, as the Parse message carried them: its key
   * in the backends' statement maps, which outlive the session (a digest, so a backend keeps
   * 44 characters of each statement prepared on it, not a text that may be a megabyte).
   */
  readonly key: string
  /** The Parse body after the name (text, parameter count and types). */
  readonly rest: Buffer
  readonly text: string
  readonly analysis: SqlAnalysis
}

/** A Parse message's parts. */
export interface ParsedParse {
  name: string
  text: string
  rest: Buffer
}

/** Reads a Parse body: the statement name, then its text and parameter types. */
export function readParse(body: Buffer): ParsedParse {
  const reader = new BodyReader(body)
  const name = reader.cstring()
  const restStart = reader.offset
  const text = reader.cstring()
  const count = reader.int16()
  if (count < 0 || reader.offset + count * 4 !== body.length)
    throw new MalformedMessage("the Parse message's parameter types do not add up")
  return { name, text, rest: body.subarray(restStart) }
}

/** A Parse message for `name` with the text and types of `rest`. */
export function parseMessage(name: string, rest: Buffer): Buffer {
  return message('P', Buffer.concat([cstring(name), rest]))
}

/** A Close message for a statement. */
export function closeStatementMessage(name: string): Buffer {
  return message('C', Buffer.concat([Buffer.from('S'), cstring(name)]))
}

/** A Bind body's portal and statement names, and where its parameters start. */
export function readBindNames(body: Buffer): { portal: string; statement: string; restAt: number } {
  const reader = new BodyReader(body)
  const portal = reader.cstring()
  const statement = reader.cstring()
  return { portal, statement, restAt: reader.offset }
}

/** The Bind message again, naming `statement` instead. */
export function rewriteBind(body: Buffer, portal: string, statement: string, restAt: number) {
  return message('B', Buffer.concat([cstring(portal), cstring(statement), body.subarray(restAt)]))
}

/** PostgreSQL's words when no unnamed statement exists. */
const MISSING_UNNAMED: ErrorFields = {
  severity: 'ERROR',
  code: '26000',
  message: 'unnamed prepared statement does not exist',
}

function missingStatement(name: string): ErrorFields {
  return {
    severity: 'ERROR',
    code: '26000',
    message: `prepared statement "${name}" does not exist`,
  }
}

/** The statements of one client session, and how its extended-protocol messages map. */
export class ClientStatements {
  private readonly byName = new Map<string, ClientStatement>()
  private bytes = 0
  /** The unnamed statement's text: PostgreSQL's own, known here for the checks at Bind. */
  private unnamed: { text: string; analysis: SqlAnalysis } | undefined
  /**
   * The last unnamed Parse failed or was skipped, or a refusal's Parse replaced it (unless
   * skipped): PostgreSQL has no unnamed statement, or still an older one than `unnamed`.
   */
  private unnamedUnknown = false
  /** Unnamed Parses sent, so that only the last one's failure counts. */
  private unnamedParses = 0

  /** A Parse: an unnamed one goes through; a named one is remembered, prepared if needed. */
  parse(relay: Relay, m: WireMessage): void {
    const parsed = readParse(bodyOf(m))
    if (parsed.name === '') {
      const parse = ++this.unnamedParses
      this.unnamed = { text: parsed.text, analysis: analyzeSql(parsed.text) }
      this.unnamedUnknown = false
      relay.send(rawOf(m), {
        until: UNTIL.parse,
        onError: () => {
          if (this.unnamedParses === parse) this.unnamedUnknown = true
        },
      })
      return
    }
    if (this.byName.has(parsed.name)) {
      return this.refuse(relay, {
        severity: 'ERROR',
        code: '42P05',
        message: `prepared statement "${parsed.name}" already exists`,
      })
    }
    if (
      this.byName.size >= MAX_CLIENT_STATEMENTS ||
      this.bytes + parsed.rest.length > MAX_CLIENT_STATEMENT_BYTES
    ) {
      return this.refuse(relay, {
        severity: 'ERROR',
        code: '53400',
        message: `a session may hold at most ${MAX_CLIENT_STATEMENTS} prepared statements of ${MAX_CLIENT_STATEMENT_BYTES / 1024 / 1024} MiB in all: close some`,
      })
    }
    const statement: ClientStatement = {
      key: createHash('sha256').update(parsed.rest).digest('base64'),
      rest: Buffer.from(parsed.rest),
      text: parsed.text,
      analysis: analyzeSql(parsed.text),
    }
    this.byName.set(parsed.name, statement)
    this.bytes += statement.rest.length
    // A Parse that fails, or that PostgreSQL skips after an earlier error, creates nothing.
    const failed = () => this.forget(parsed.name, statement)
    // Already prepared on this backend (by this client or another): answered here.
    if (relay.connection.prepared.wireName(statement.key) !== undefined)
      relay.answer(PARSE_COMPLETE, failed)
    else this.prepare(relay, statement, failed)
  }

  /** A Bind: a named statement's backend name replaces the client's. */
  bind(relay: Relay, m: WireMessage, check: BindCheck): void {
    const body = bodyOf(m)
    const { portal, statement: name, restAt } = readBindNames(body)
    let data = rawOf(m)
    let source = this.unnamed
    // What PostgreSQL would bind is not known: refused (it could not be checked), as
    // PostgreSQL refuses it when it has none.
    if (name === '' && this.unnamedUnknown) return this.refuse(relay, MISSING_UNNAMED)
    if (name !== '') {
      const statement = this.byName.get(name)
      if (!statement) return this.refuse(relay, missingStatement(name))
      source = statement
      data = rewriteBind(body, portal, this.backendName(relay, statement), restAt)
    }
    const refusal = source && check(source.text, source.analysis, portal)
    if (refusal) return this.refuse(relay, refusal)
    relay.send(data, { until: UNTIL.bind })
  }

  /** A Describe: of a named statement, under its backend name. */
  describe(relay: Relay, m: WireMessage): void {
    const body = bodyOf(m)
    const name = new BodyReader(body.subarray(1)).cstring()
    if (body[0] !== 83 || name === '') {
      relay.send(rawOf(m), { until: UNTIL.describe })
      return
    }
    const statement = this.byName.get(name)
    if (!statement) return this.refuse(relay, missingStatement(name))
    relay.send(
      message('D', Buffer.concat([Buffer.from('S'), cstring(this.backendName(relay, statement))])),
      {
        until: UNTIL.describe,
      },
    )
  }

  /**
   * A Close of a named statement: forgotten here, kept prepared on backends for others.
   * False for any other Close, which goes to PostgreSQL.
   */
  close(body: Buffer): boolean {
    if (body[0] !== 83) return false
    const name = new BodyReader(body.subarray(1)).cstring()
    if (name === '') return false
    const statement = this.byName.get(name)
    if (statement) this.forget(name, statement)
    return true
  }

  private forget(name: string, statement: ClientStatement): void {
    if (this.byName.get(name) !== statement) return
    this.byName.delete(name)
    this.bytes -= statement.rest.length
  }

  /**
   * Refuses an extended-protocol message so that PostgreSQL fails it too: the transaction
   * aborts and the rest of the batch is skipped up to Sync, as for PostgreSQL's own errors.
   */
  refuse(relay: Relay, fields: ErrorFields): void {
    // The poison replaces the unnamed statement, as a failed Parse does in PostgreSQL
    // (unless an earlier error makes PostgreSQL skip it).
    this.unnamedParses++
    this.unnamedUnknown = true
    relay.send(parseMessage('', POISON), {
      until: UNTIL.parse,
      replaceError: errorResponse(fields),
    })
  }

  /**
   * Prepares a client's statement on this backend; returns its name there. `ownFailed`: for
   * the client's own Parse (answered to it), called should it fail.
   */
  private prepare(relay: Relay, statement: ClientStatement, ownFailed?: () => void): string {
    const own = ownFailed !== undefined
    const { prepared } = relay.connection
    const plan = prepared.wirePrepare(statement.key)
    if (plan.close)
      relay.send(closeStatementMessage(plan.close), { until: UNTIL.close, hidden: true })
    // The client's own Parse is answered to it; one sent for its Bind is not, its error is.
    relay.send(parseMessage(plan.name, statement.rest), {
      until: UNTIL.parse,
      hidden: !own,
      showError: true,
      onError: () => {
        prepared.wireForget(statement.key)
        ownFailed?.()
      },
    })
    return plan.name
  }

  /** The backend's name of a client's statement, prepared there first when needed. */
  private backendName(relay: Relay, statement: ClientStatement): string {
    return relay.connection.prepared.wireName(statement.key) ?? this.prepare(relay, statement)
  }
}
