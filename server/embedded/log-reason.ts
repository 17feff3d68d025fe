// PostgreSQL's reason for not starting, read from its log, in a line a person reads.

/**
 * PostgreSQL's own reason in its log: the FATAL (or PANIC) line and its HINT, else a line
 * postgres or initdb wrote about itself, else the last line it wrote.
 */
export function reasonIn(log: string): string | undefined {
  const fatal = /\b(?:FATAL|PANIC):\s+(.+)/.exec(log)?.[1]?.trim()
  if (fatal !== undefined) {
    const hint = /\bHINT:\s+(.+)/.exec(log)?.[1]?.trim()
    return hint === undefined ? fatal : `${fatal} (${hint})`
  }
  const own = /^(?:\[STDERR\] )?((?:postgres|initdb): .+)$/m.exec(log)?.[1]?.trim()
  return (
    own ??
    log
      .split('\n')
      .filter((line) => line.trim() !== '')
      .at(-1)
      ?.trim()
  )
}

/** One line, whatever the error: a cause a person reads, not a dump. */
export function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}
