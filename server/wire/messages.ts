/**
 * The PostgreSQL protocol's messages (version 3.0) as the gateway writes them to its wire
 * clients: authentication, ParameterStatus, BackendKeyData, ReadyForQuery, errors and the
 * few responses the relay answers itself. Everything else passes through as PostgreSQL
 * sent it. Reference: the "Message Formats" chapter of PostgreSQL's documentation.
 */

/** Codes of the packets that open a connection (they carry no type byte). */
export const STARTUP_CODES = {
  sslRequest: 80877103,
  gssEncRequest: 80877104,
  cancelRequest: 80877102,
  /** Protocol 3.0: major 3 in the high 16 bits. */
  protocol30: 196608,
} as const

/** The fields of an ErrorResponse or NoticeResponse, by their one-letter codes. */
export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE'
  code: string
  message: string
  detail?: string
  hint?: string
}

/** One message: its type byte, then its length (itself included) and body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = type.charCodeAt(0)
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

/** A NUL-terminated UTF-8 string. */
export function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8')
}

/** A Query message. */
export function queryMessage(sql: string): Buffer {
  return message('Q', cstring(sql))
}

function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeInt32BE(n, 0)
  return b
}

/** AuthenticationOk. */
export function authenticationOk(): Buffer {
  return message('R', int32(0))
}

/** AuthenticationCleartextPassword: the client answers with the token itself. */
export function authenticationCleartext(): Buffer {
  return message('R', int32(3))
}

/** AuthenticationSASL offering SCRAM-SHA-256 (no channel binding). */
export function authenticationSasl(): Buffer {
  return message('R', Buffer.concat([int32(10), cstring('SCRAM-SHA-256'), Buffer.from([0])]))
}

/** AuthenticationSASLContinue (server-first-message). */
export function authenticationSaslContinue(data: string): Buffer {
  return message('R', Buffer.concat([int32(11), Buffer.from(data, 'utf8')]))
}

/** AuthenticationSASLFinal (server-final-message). */
export function authenticationSaslFinal(data: string): Buffer {
  return message('R', Buffer.concat([int32(12), Buffer.from(data, 'utf8')]))
}

/** ParameterStatus. */
export function parameterStatus(name: string, value: string): Buffer {
  return message('S', Buffer.concat([cstring(name), cstring(value)]))
}

/** BackendKeyData: the key a CancelRequest must present. */
export function backendKeyData(processId: number, secretKey: number): Buffer {
  return message('K', Buffer.concat([int32(processId), int32(secretKey)]))
}

/** ReadyForQuery with a transaction status: 'I' idle, 'T' in a transaction, 'E' failed. */
export function readyForQuery(status: string): Buffer {
  return message('Z', Buffer.from(status, 'latin1'))
}

/** NegotiateProtocolVersion: 3.`minor` is the newest we speak; `unsupported` options. */
export function negotiateProtocolVersion(minor: number, unsupported: readonly string[]): Buffer {
  return message(
    'v',
    Buffer.concat([int32(minor), int32(unsupported.length), ...unsupported.map(cstring)]),
  )
}

function fieldsBody(fields: ErrorFields): Buffer {
  const parts: Buffer[] = [
    Buffer.from('S'),
    cstring(fields.severity),
    Buffer.from('V'),
    cstring(fields.severity),
    Buffer.from('C'),
    cstring(fields.code),
    Buffer.from('M'),
    cstring(fields.message),
  ]
  if (fields.detail !== undefined) parts.push(Buffer.from('D'), cstring(fields.detail))
  if (fields.hint !== undefined) parts.push(Buffer.from('H'), cstring(fields.hint))
  parts.push(Buffer.from([0]))
  return Buffer.concat(parts)
}

/** ErrorResponse. */
export function errorResponse(fields: ErrorFields): Buffer {
  return message('E', fieldsBody(fields))
}

/** NoticeResponse. */
export function noticeResponse(fields: ErrorFields): Buffer {
  return message('N', fieldsBody(fields))
}

/** ParseComplete, for a Parse the relay answers from its statement cache. */
export const PARSE_COMPLETE = message('1')
/** CloseComplete, for a Close of a client's named statement. */
export const CLOSE_COMPLETE = message('3')

/** The fields of an ErrorResponse or NoticeResponse body, by their one-letter codes. */
export function readFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>()
  let i = 0
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!)
    const end = body.indexOf(0, i + 1)
    if (end < 0) break
    fields.set(code, body.toString('utf8', i + 1, end))
    i = end + 1
  }
  return fields
}

/** Reads NUL-terminated strings from a message body. */
export class BodyReader {
  offset = 0
  constructor(readonly body: Buffer) {}

  /** The next string; throws on a missing terminator (a malformed message). */
  cstring(): string {
    const end = this.body.indexOf(0, this.offset)
    if (end < 0) throw new MalformedMessage('a string is not terminated')
    const text = this.body.toString('utf8', this.offset, end)
    this.offset = end + 1
    return text
  }

  int16(): number {
    if (this.offset + 2 > this.body.length) throw new MalformedMessage('the message is too short')
    const n = this.body.readInt16BE(this.offset)
    this.offset += 2
    return n
  }

  int32(): number {
    if (this.offset + 4 > this.body.length) throw new MalformedMessage('the message is too short')
    const n = this.body.readInt32BE(this.offset)
    this.offset += 4
    return n
  }
}

/** A DataRow body's values as text (NULL as null). */
export function dataRowValues(body: Buffer): (string | null)[] {
  const reader = new BodyReader(body)
  const values: (string | null)[] = []
  for (let columns = reader.int16(); columns > 0; columns--) {
    const length = reader.int32()
    values.push(length < 0 ? null : body.toString('utf8', reader.offset, reader.offset + length))
    if (length > 0) reader.offset += length
  }
  return values
}

/** A client message that does not follow the protocol: the session ends with 08P01. */
export class MalformedMessage extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MalformedMessage'
  }
}
