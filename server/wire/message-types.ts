/**
 * The type bytes of the PostgreSQL protocol's messages (version 3.0), as char codes: the
 * session reads the client's by these, the relay reads PostgreSQL's. Kept apart from
 * ./messages.ts, which builds messages, so both sides switch on the same numbers.
 */

/** Frontend message types (client to server), as char codes. */
export const FRONTEND = {
  bind: 66, // 'B'
  close: 67, // 'C'
  describe: 68, // 'D'
  execute: 69, // 'E'
  functionCall: 70, // 'F'
  flush: 72, // 'H'
  parse: 80, // 'P'
  query: 81, // 'Q'
  sync: 83, // 'S'
  terminate: 88, // 'X'
  copyDone: 99, // 'c'
  copyData: 100, // 'd'
  copyFail: 102, // 'f'
} as const

/** Backend message types (server to client), as char codes. */
export const BACKEND = {
  parseComplete: 49, // '1'
  bindComplete: 50, // '2'
  closeComplete: 51, // '3'
  commandComplete: 67, // 'C'
  dataRow: 68, // 'D'
  error: 69, // 'E'
  copyIn: 71, // 'G'
  copyOut: 72, // 'H'
  emptyQuery: 73, // 'I'
  notice: 78, // 'N'
  notification: 65, // 'A'
  parameterStatus: 83, // 'S'
  rowDescription: 84, // 'T'
  ready: 90, // 'Z'
  noData: 110, // 'n'
  portalSuspended: 115, // 's'
} as const

/**
 * The frontend messages that need a backend. Flush, Sync, Terminate and the COPY messages
 * are handled before the check; any other type is a protocol violation.
 */
export const NEEDS_BACKEND = new Set<number>([
  FRONTEND.bind,
  FRONTEND.close,
  FRONTEND.describe,
  FRONTEND.execute,
  FRONTEND.functionCall,
  FRONTEND.parse,
  FRONTEND.query,
])
