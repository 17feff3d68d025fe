/**
 * A tenant's result limits as the wire meter applies them (server/pool/wire-meter.ts), and
 * the RESULT_TOO_LARGE error that says which one a result passed. A buffered answer is held
 * whole, so `maxRows` and `maxResultBytes` bound it; a stream holds one row at a time, so
 * `stream.maxRows` and `stream.maxBytes` bound its total and `maxResultBytes` its rows.
 */
import { SluiceError } from '../../src/errors.js'
import { MAX_MESSAGE_BYTES, MAX_OTHER_MESSAGE_BYTES, type MeterLimits } from '../pool/wire-meter.js'
import type { TooLarge } from '../pool/statement.js'
import type { Tenant } from '../tenants/tenant.js'

/** The limits of one buffered statement, `remainingBytes` being what is left of the answer's. */
export function bufferedLimits(tenant: Tenant, remainingBytes: number): MeterLimits {
  return { maxRows: tenant.config.maxRows, maxBytes: remainingBytes }
}

/** The limits of one streamed statement. */
export function streamLimits(tenant: Tenant): MeterLimits {
  const { stream, maxResultBytes } = tenant.config
  return {
    maxRows: stream.maxRows ?? undefined,
    maxBytes: stream.maxBytes ?? undefined,
    maxRowBytes: maxResultBytes,
  }
}

/** RESULT_TOO_LARGE, naming the limit that `tooLarge` passed. */
export function resultTooLarge(
  tenant: Tenant,
  tooLarge: TooLarge,
  streaming: boolean,
): SluiceError {
  const { maxRows, maxResultBytes, stream } = tenant.config
  const rowBytes = Math.min(maxResultBytes, MAX_MESSAGE_BYTES)
  let message: string
  switch (tooLarge.kind) {
    case 'rows':
      message = streaming
        ? `the stream has more than ${stream.maxRows} rows (the tenant's stream.maxRows): add a LIMIT`
        : `the result has more than ${maxRows} rows (the tenant's maxRows): add a LIMIT, or stream it (Accept: application/x-ndjson)`
      break
    case 'bytes':
      message = streaming
        ? `the stream has more than ${stream.maxBytes} bytes (the tenant's stream.maxBytes): add a LIMIT or select fewer columns`
        : `the result has more than ${maxResultBytes} bytes (the tenant's maxResultBytes): add a LIMIT or select fewer columns, or stream it (Accept: application/x-ndjson)`
      break
    case 'row':
      message = `a row of ${tooLarge.declaredBytes} bytes is over the ${rowBytes} bytes one row may have (the tenant's maxResultBytes, at most ${MAX_MESSAGE_BYTES}): select less of it, e.g. with substr()`
      break
    default:
      message = `PostgreSQL sent a message of ${tooLarge.declaredBytes} bytes, over the ${MAX_OTHER_MESSAGE_BYTES} bytes the gateway reads for anything but a row (a huge error or notice text?)`
  }
  return new SluiceError('RESULT_TOO_LARGE', message)
}
