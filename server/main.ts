#!/usr/bin/env node
/**
 * The `sluice` bin and the `npm start` entry: runs the CLI (server/cli/) on this process's
 * arguments and environment. The only module that touches `process.argv` and the exit code;
 * `serve` is the only command that listens and installs signal handlers.
 */
import { runCli } from './cli/cli.js'
import { processIo } from './cli/io.js'

void runCli(process.argv.slice(2), processIo, process.env).then((code) => {
  if (code !== undefined) process.exitCode = code
})
