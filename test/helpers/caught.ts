/**
 * The error a test expects: what `work` rejects with, or, for a function, what it throws or
 * its promise rejects with. Fails the test when there is none, so an assertion on the error
 * never passes on a call that succeeded.
 * @example expect((await caught(db.query('select 1/0'))).code).toBe('22012')
 * @example const error = await caught(() => all(db.stream('select * from no_such_table')))
 */
export async function caught<E = any>(work: PromiseLike<unknown> | (() => unknown)): Promise<E> {
  try {
    await (typeof work === 'function' ? work() : work)
  } catch (error) {
    return error as E
  }
  throw new Error('expected an error, but none came')
}
