/** Where the CLI writes: injectable, so commands are testable without a process. */

/** The CLI's output lines. */
export interface CliIo {
  out(line: string): void
  err(line: string): void
}

/** stdout and stderr. */
export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}
