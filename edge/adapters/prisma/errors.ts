/**
 * PostgreSQL's errors as Prisma's engine expects them from a driver adapter: the same
 * SQLSTATE-to-kind table as @prisma/adapter-pg (so 23505 becomes P2002, 23503 P2003, 40001
 * P2034…), with the SQLSTATE as `originalCode`. The engine recognises the error by its name
 * and `cause`, as @prisma/driver-adapter-utils' own DriverAdapterError, which the adapter
 * does not import so that it needs no runtime dependency.
 */
import type { Error as MappedError } from '@prisma/driver-adapter-utils'
import { isDatabaseError, type DatabaseError } from '../../errors.js'
import { postgresMessage } from '../postgres-error.js'

/** What the engine turns into a Prisma error code (`P2002`, …). */
export class DriverAdapterError extends Error {
  override readonly name = 'DriverAdapterError'
  declare readonly cause: MappedError

  constructor(payload: MappedError) {
    const message = 'message' in payload && typeof payload.message === 'string'
    super(message ? payload.message : payload.kind, { cause: payload })
  }
}

type Constraint = { fields: string[] } | { index: string } | undefined

const keyFields = (detail: string | undefined): string[] | undefined =>
  detail
    ?.match(/Key \(([^)]+)\)/)
    ?.at(1)
    ?.split(', ')

/** The error kind for a PostgreSQL error (`message` its own), as adapter-pg's `mapDriverError`. */
function mapError(error: DatabaseError, message: string): MappedError {
  const { sqlstate, column, constraint, detail, table } = error
  switch (sqlstate) {
    case '22001':
      return { kind: 'LengthMismatch', ...(column !== undefined && { column }) }
    case '22003':
      return { kind: 'ValueOutOfRange', cause: message }
    case '22P02':
      return { kind: 'InvalidInputValue', message }
    case '23505': {
      const fields = keyFields(detail)
      let tableName = table
      if (tableName === undefined && fields !== undefined && fields.length > 0) {
        const suffix = `_${fields.join('_')}_key`
        if (constraint?.endsWith(suffix)) tableName = constraint.slice(0, -suffix.length)
      }
      const found: Constraint = constraint ? { index: constraint } : fields && { fields }
      return {
        kind: 'UniqueConstraintViolation',
        ...(found && { constraint: found }),
        ...(tableName !== undefined && { table: tableName }),
      }
    }
    case '23502': {
      const fields = keyFields(detail)
      return { kind: 'NullConstraintViolation', ...(fields && { constraint: { fields } }) }
    }
    case '23503':
    case '23001': {
      const found: Constraint = column
        ? { fields: [column] }
        : constraint
          ? { index: constraint }
          : undefined
      return {
        kind: sqlstate === '23503' ? 'ForeignKeyConstraintViolation' : 'RestrictViolation',
        ...(found && { constraint: found }),
      }
    }
    case '3D000':
      return { kind: 'DatabaseDoesNotExist', ...quoted('db', message.split(' ').at(1)) }
    case '28000':
      return {
        kind: 'DatabaseAccessDenied',
        ...quoted(
          'db',
          message.split(',').find((part) => part.startsWith(' database')),
        ),
      }
    case '28P01':
      return { kind: 'AuthenticationFailed', ...quoted('user', message.split(' ').pop()) }
    case '40001':
    case '40P01':
      return { kind: 'TransactionWriteConflict' }
    case '42P01':
      return { kind: 'TableDoesNotExist', ...quoted('table', message.split(' ').at(1)) }
    case '42703': {
      const raw = message.match(/^column (.+) does not exist$/)?.at(1)
      const name = raw?.replace(/"((?:""|[^"])*)"/g, (_, id: string) => id.replaceAll('""', '"'))
      return { kind: 'ColumnNotFound', ...(name !== undefined && { column: name }) }
    }
    case '42P04':
      return { kind: 'DatabaseAlreadyExists', ...quoted('db', message.split(' ').at(1)) }
    case '53300':
      return { kind: 'TooManyConnections', cause: message }
    default:
      return {
        kind: 'postgres',
        code: sqlstate,
        severity: error.severity ?? 'N/A',
        message,
        detail,
        column,
        hint: error.hint,
      }
  }
}

/** `{ [key]: name }` for the first double-quoted name in `text`, as adapter-pg reads them. */
function quoted<K extends string>(key: K, text: string | undefined): { [P in K]?: string } {
  const name = text?.split('"').at(1)
  return (name === undefined ? {} : { [key]: name }) as { [P in K]?: string }
}

/**
 * A {@link DriverAdapterError} for a PostgreSQL error; any other error (the gateway's
 * `TX_NOT_FOUND`, a `NETWORK_ERROR`…) as it is, which the engine passes on to the caller.
 */
export function toPrismaError(error: unknown): unknown {
  if (!isDatabaseError(error)) return error
  // PostgreSQL's message, which the engine and the kinds above read.
  const message = postgresMessage(error)
  return new DriverAdapterError({
    ...mapError(error, message),
    originalCode: error.sqlstate,
    originalMessage: message,
  })
}
