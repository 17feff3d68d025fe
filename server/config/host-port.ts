/**
 * `host:port` as the cluster settings write a node's address (`10.0.0.7:8080`,
 * `sluice-0.sluice:8080`, `[fd00::7]:8080`), read the same way wherever it appears: the
 * peers list, `advertise`, and the addresses nodes learn from DNS.
 */
import { isIP } from 'node:net'

/** A node's address. */
export interface HostPort {
  host: string
  port: number
}

/** Reads `host:port`; an IPv6 host is written in brackets. A string is the problem. */
export function parseHostPort(text: string): HostPort | string {
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text)
  if (!match) return 'must be host:port (an IPv6 address in brackets: [fd00::1]:8080)'
  const host = match[1] ?? match[2]!
  if (match[1] !== undefined && isIP(host) !== 6) return `${host} is not an IPv6 address`
  const port = Number(match[3])
  if (port < 1 || port > 65535) return `port ${port} is out of range: use 1 to 65535`
  return { host, port }
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

/** Whether `host` means every interface, so it names no one node. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]'
}
