/**
 * The undici connector: resolve (override map first, then DNS), judge the
 * resolved address with the SSRF guard, then dial that exact address — so
 * the address checked is the address connected to (no DNS rebinding gap).
 *
 * @internal
 */
import * as Dns from "node:dns"
import * as Net from "node:net"
import { buildConnector } from "undici"
import * as AddressGuard from "../AddressGuard.ts"

/** Thrown into undici when the guard refuses an address; mapped to `ForbiddenAddress`. */
export class ForbiddenAddressCause extends Error {
  readonly code = "TRAWL_FORBIDDEN_ADDRESS"
  readonly host: string
  readonly address: string
  readonly range: string
  constructor(host: string, address: string, range: string) {
    super(`${host} resolves to ${address} (${range})`)
    this.host = host
    this.address = address
    this.range = range
  }
}

/** DNS did not answer within the connect timeout. */
export class DnsTimeoutCause extends Error {
  readonly code = "UND_ERR_CONNECT_TIMEOUT"
}

export interface ConnectorOptions {
  readonly connectTimeoutMillis: number
  readonly resolve: AddressGuard.ResolveMap
  readonly allowedRanges: ReadonlyArray<AddressGuard.Range>
}

const stripBrackets = (host: string) => host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host

const lookup = (host: string, timeoutMillis: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new DnsTimeoutCause(`DNS lookup of ${host} timed out`)), timeoutMillis)
    Dns.lookup(host, { verbatim: true }, (error, address) => {
      clearTimeout(timer)
      if (error) reject(error)
      else resolve(address)
    })
  })

export const make = (options: ConnectorOptions): buildConnector.connector => {
  const dial = buildConnector({
    timeout: options.connectTimeoutMillis,
    keepAlive: true,
    keepAliveInitialDelay: 60_000,
    noDelay: true
  })
  return (connectOptions, callback) => {
    const host = stripBrackets(connectOptions.hostname)
    const literal = Net.isIP(host) !== 0
    const address = literal ? host : options.resolve.lookup(host)
    const proceed = (resolved: string) => {
      const range = AddressGuard.check(resolved, options.allowedRanges)
      if (range !== undefined) {
        callback(new ForbiddenAddressCause(host, resolved, range), null)
        return
      }
      dial(
        literal ? { ...connectOptions, hostname: resolved } : { ...connectOptions, hostname: resolved, servername: host },
        callback
      )
    }
    if (address !== undefined) {
      proceed(address)
      return
    }
    lookup(host, options.connectTimeoutMillis).then(proceed, (error: Error) => callback(error, null))
  }
}
