/**
 * Protocol-level named prepared statements, pooled per transaction as PgBouncer's
 * max_prepared_statements does it: a client's `Parse` of a named statement is remembered by
 * the session (its text and parameter types); each backend prepares it, under a name of its
 * own (`sluice_<connection>_<n>`, see server/pool/prepared.ts), the first time a client of
 * the tenant needs it there, and keeps it for every later client that sends the same text.
 * Bind, Describe and Close name the client's statement; the relay rewrites the name.
 */
import { analyzeSql, type SqlAnalysis } from '../engine/analyze.js'
import { BodyReader, MalformedMessage, cstring, message } from './messages.js'

/** Statements one session may hold: a client that never closes them cannot grow for ever. */
export const MAX_CLIENT_STATEMENTS = 10_000

/** A client's named statement. */
export interface ClientStatement {
  /** Its text and parameter types, as the Parse message carried them: the cache key. */
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

/** A Describe of a statement. */
export function describeStatementMessage(name: string): Buffer {
  return message('D', Buffer.concat([Buffer.from('S'), cstring(name)]))
}

/** The named statements of one client session. */
export class ClientStatements {
  private readonly byName = new Map<string, ClientStatement>()

  get size(): number {
    return this.byName.size
  }

  get(name: string): ClientStatement | undefined {
    return this.byName.get(name)
  }

  /** Remembers a client's Parse of `name`. */
  add(name: string, parsed: ParsedParse): ClientStatement {
    const statement: ClientStatement = {
      key: parsed.rest.toString('latin1'),
      rest: Buffer.from(parsed.rest),
      text: parsed.text,
      analysis: analyzeSql(parsed.text),
    }
    this.byName.set(name, statement)
    return statement
  }

  delete(name: string): void {
    this.byName.delete(name)
  }
}
