/**
 * Readonly tokens on the wire. Each of their transactions runs inside a `BEGIN READ ONLY;
 * SELECT 1` the gateway sends first (server/engine/run.ts's beginSql, as on HTTP): the
 * snapshot is taken, so PostgreSQL refuses `SET TRANSACTION READ WRITE` and every write.
 * A statement the client sends alone runs in that transaction, which the gateway then
 * commits; a client's own BEGIN joins it (PostgreSQL's "already in progress" warning is
 * the sign, and is not passed on); its COMMIT or ROLLBACK ends it. What could end the
 * transaction and then run more before the gateway sees it is refused: transaction control
 * in a multi-statement query, a statement bound, queried or called (FunctionCall) after a
 * COMMIT before the next Sync, AND CHAIN (whose new transaction has no snapshot yet), and
 * PREPARE TRANSACTION (its transaction, locks included, outlives the session).
 */
import { analyzeSqlEveryWay, type SqlAnalysis } from '../engine/analyze.js'
import type { ErrorFields } from './messages.js'

const ENDING = new Set(['commit', 'end', 'rollback', 'abort', 'prepare'])

/** True for a statement that ends the transaction (COMMIT, ROLLBACK, PREPARE TRANSACTION…). */
export function endsTransaction(analysis: SqlAnalysis): boolean {
  return analysis.transactionControl && ENDING.has(analysis.leading)
}

function refusal(message: string): ErrorFields {
  return {
    severity: 'ERROR',
    code: '25006',
    message,
    hint: 'This token is readonly: its transactions are READ ONLY, and the gateway must see where each one ends.',
  }
}

/** Why a readonly token may not run `text`, or undefined when it may. */
export function readOnlyRefusal(analysis: SqlAnalysis, text: string): ErrorFields | undefined {
  // The count of statements decides, so it must hold however PostgreSQL reads backslashes
  // (the client may have turned standard_conforming_strings off).
  const readings = text.includes('\\') ? analyzeSqlEveryWay(text) : [analysis]
  if (!readings.some((reading) => reading.transactionControl)) return undefined
  if (readings.some((reading) => reading.transactionControl && reading.statements > 1))
    return refusal(
      'a readonly token must send BEGIN, COMMIT and ROLLBACK as statements of their own',
    )
  if (/\bchain\b/i.test(text)) return refusal('AND CHAIN is not available to readonly tokens')
  // A prepared transaction outlives the session and keeps its locks until someone ends it.
  if (readings.some((reading) => reading.transactionControl && reading.leading === 'prepare'))
    return refusal('PREPARE TRANSACTION is not available to readonly tokens')
  return undefined
}

/** The refusal of a statement bound or sent after a transaction-ending one, before Sync. */
export const AFTER_END_REFUSAL = refusal(
  'a readonly token may not run a statement after COMMIT or ROLLBACK before the next Sync',
)
