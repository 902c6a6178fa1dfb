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
import type { BodyBudget } from "./budget.ts"

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
  /** When given, connections read response heads only with a read slot of this budget. */
  readonly budget?: BodyBudget | undefined
}

/** The parts of Node's stream handle (`socket._handle`) the read gate uses. */
interface StreamHandle {
  reading: boolean
  readStop(): number
}

interface GatedSocket {
  _handle: StreamHandle | null
  _read(size: number): void
  push(chunk: unknown, encoding?: BufferEncoding): boolean
  write(...args: Array<unknown>): boolean
}

/**
 * Makes a connection ask `budget` for a read slot before it reads a response:
 * when undici writes a request and no slot is free, the socket stops reading
 * (the response stays in the kernel) until the slot is granted; the slot is
 * given back at the first bytes read. Idle connections and responses under
 * way read freely. Uses `socket._handle.readStop` (Node's stream handle) and
 * the stream's `_read`: net.Socket has no public way to stop reading a socket
 * whose data is consumed through 'readable' (undici's way).
 */
const gate = (socket: Net.Socket, budget: BodyBudget): void => {
  const target = socket as unknown as GatedSocket
  const baseRead = target._read
  const basePush = target.push
  const baseWrite = target.write
  // free: reads as it likes; waiting: request sent, no slot; slot: may read the response head.
  let state: "free" | "waiting" | "slot" = "free"
  let stalled = false
  const grant = () => {
    if (state !== "waiting") {
      budget.releaseSlot()
      return
    }
    state = "slot"
    if (stalled) {
      stalled = false
      baseRead.call(target, socket.readableHighWaterMark)
    }
  }
  target._read = function(size) {
    if (state === "waiting") {
      stalled = true
      return
    }
    baseRead.call(this, size)
  }
  target.push = function(chunk, encoding) {
    if (state === "slot" && chunk !== null) {
      state = "free"
      budget.releaseSlot()
    }
    return basePush.call(this, chunk, encoding)
  }
  target.write = function(...args) {
    if (state === "free") {
      if (budget.tryTakeSlot()) {
        state = "slot"
      } else {
        state = "waiting"
        const handle = target._handle
        if (handle !== null && handle.reading) {
          handle.reading = false
          handle.readStop()
          // The stream still thinks a read is pending: restart it when the slot comes.
          stalled = true
        }
        budget.waitSlot(grant)
      }
    }
    return baseWrite.apply(this, args)
  }
  socket.once("close", () => {
    if (state === "slot") budget.releaseSlot()
    else if (state === "waiting") budget.cancelSlot(grant)
    state = "free"
  })
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
  const budget = options.budget
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
        budget === undefined ? callback : (error, socket) => {
          if (error === null && socket) gate(socket, budget)
          ;(callback as (error: Error | null, socket: Net.Socket | null) => void)(error, socket)
        }
      )
    }
    if (address !== undefined) {
      proceed(address)
      return
    }
    lookup(host, options.connectTimeoutMillis).then(proceed, (error: Error) => callback(error, null))
  }
}
