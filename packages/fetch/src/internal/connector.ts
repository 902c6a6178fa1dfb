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
import type { BodyBudget, SlotWaiter } from "./budget.ts"

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

interface GatedSocket extends Net.Socket {
  _handle: StreamHandle | null
  _read(size: number): void
  [gateKey]?: ReadGate
}

const gateKey: unique symbol = Symbol("trawl/readGate")

/**
 * The read gate of one connection. Every connection of a crawl has one, so it
 * is one small object: the socket's overridden methods are shared functions
 * that find it under `gateKey`, not closures made per socket.
 */
class ReadGate implements SlotWaiter {
  readonly socket: GatedSocket
  readonly budget: BodyBudget
  // The socket class's own methods (net.Socket or tls.TLSSocket).
  readonly baseRead: (size: number) => void
  readonly basePush: (chunk: unknown, encoding?: BufferEncoding) => boolean
  readonly baseWrite: (...args: Array<unknown>) => boolean
  // free: reads as it likes; waiting: request sent, no slot; slot: may read the response head.
  state: "free" | "waiting" | "slot" = "free"
  stalled = false
  constructor(socket: GatedSocket, budget: BodyBudget) {
    this.socket = socket
    this.budget = budget
    this.baseRead = socket._read
    this.basePush = socket.push
    this.baseWrite = socket.write as (...args: Array<unknown>) => boolean
  }

  granted(): void {
    if (this.state !== "waiting") {
      this.budget.releaseSlot()
      return
    }
    this.state = "slot"
    if (this.stalled) {
      this.stalled = false
      this.baseRead.call(this.socket, this.socket.readableHighWaterMark)
    }
  }
}

function gatedRead(this: GatedSocket, size: number): void {
  const gate = this[gateKey]!
  if (gate.state === "waiting") {
    gate.stalled = true
    return
  }
  gate.baseRead.call(this, size)
}

function gatedPush(this: GatedSocket, chunk: unknown, encoding?: BufferEncoding): boolean {
  const gate = this[gateKey]!
  if (gate.state === "slot" && chunk !== null) {
    gate.state = "free"
    gate.budget.releaseSlot()
  }
  return gate.basePush.call(this, chunk, encoding)
}

function gatedWrite(this: GatedSocket, ...args: Array<unknown>): boolean {
  const gate = this[gateKey]!
  if (gate.state === "free") {
    if (gate.budget.tryTakeSlot()) {
      gate.state = "slot"
    } else {
      gate.state = "waiting"
      const handle = this._handle
      if (handle !== null && handle.reading) {
        handle.reading = false
        handle.readStop()
        // The stream still thinks a read is pending: restart it when the slot comes.
        gate.stalled = true
      }
      gate.budget.waitSlot(gate)
    }
  }
  return gate.baseWrite.apply(this, args)
}

function gateClosed(this: GatedSocket): void {
  const gate = this[gateKey]!
  if (gate.state === "slot") gate.budget.releaseSlot()
  else if (gate.state === "waiting") gate.budget.cancelSlot(gate)
  gate.state = "free"
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
  const target = socket as GatedSocket
  target[gateKey] = new ReadGate(target, budget)
  target._read = gatedRead
  target.push = gatedPush
  target.write = gatedWrite as Net.Socket["write"]
  socket.on("close", gateClosed)
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
