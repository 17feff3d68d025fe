/**
 * CPU time of processes, from /proc (Linux): a process and its descendants (a gateway's
 * primary and its workers), in seconds of user + system time. Read before and after a run,
 * divided by the requests served, it gives the CPU each request cost, which varies far
 * less than req/s on a shared machine.
 */
import { readdirSync, readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100

/** utime + stime of one process, in seconds; 0 when it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // pid (comm) state ppid …: comm may hold spaces, so read after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

/** The pids of `pid`'s descendants alive now. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parent.set(Number(entry), Number(fields[1]))
    } catch {
      // Gone while we looked.
    }
  }
  const found: number[] = []
  const walk = (of: number) => {
    for (const [child, ppid] of parent) {
      if (ppid === of) {
        found.push(child)
        walk(child)
      }
    }
  }
  walk(pid)
  return found
}

/** CPU seconds of `pid` and every descendant alive now (a primary and its workers). */
export function treeCpuSeconds(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + processCpuSeconds(p), 0)
}
