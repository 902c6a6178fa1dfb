/**
 * Politeness accounting: per host, requests in flight (now and the most ever),
 * open connections, request count, the busiest second and the shortest gap
 * between two request starts. Memory is bounded by the number of shops.
 */
import type * as Net from "node:net"

export interface HostStats {
  requests: number
  inFlight: number
  maxInFlight: number
  connections: number
  maxConnections: number
  notModified: number
  injectedErrors: number
  /** Requests for paths the host's robots.txt disallows. */
  disallowedRequests: number
  /** Shortest time between two request starts (ms), `null` before the second request. */
  minGapMillis: number | null
  maxRequestsPerSecond: number
  /** Injected failures in a row on this host (kept ≤ 2, below any sane circuit breaker). */
  injectedRun: number
  lastStartMillis: number
  second: number
  secondCount: number
}

const fresh = (): HostStats => ({
  requests: 0,
  inFlight: 0,
  maxInFlight: 0,
  connections: 0,
  maxConnections: 0,
  notModified: 0,
  injectedErrors: 0,
  disallowedRequests: 0,
  minGapMillis: null,
  maxRequestsPerSecond: 0,
  injectedRun: 0,
  lastStartMillis: -1,
  second: -1,
  secondCount: 0
})

export class Stats {
  readonly hosts = new Map<string, HostStats>()
  readonly #socketHost = new WeakMap<Net.Socket, HostStats>()
  readonly #maxHosts: number
  totalRequests = 0
  inFlight = 0
  maxInFlight = 0
  openConnections = 0
  maxOpenConnections = 0

  constructor(maxHosts: number) {
    this.#maxHosts = maxHosts
  }

  #of(host: string): HostStats {
    let stats = this.hosts.get(host)
    if (stats === undefined) {
      stats = fresh()
      if (this.hosts.size < this.#maxHosts) this.hosts.set(host, stats)
    }
    return stats
  }

  connectionOpened(): void {
    this.openConnections++
    this.maxOpenConnections = Math.max(this.maxOpenConnections, this.openConnections)
  }

  connectionClosed(socket: Net.Socket): void {
    this.openConnections--
    const stats = this.#socketHost.get(socket)
    if (stats !== undefined) stats.connections--
  }

  /** A request started; returns the function that ends it (idempotent). */
  begin(host: string, socket: Net.Socket, nowMillis: number): { readonly stats: HostStats; readonly end: () => void } {
    const stats = this.#of(host)
    if (!this.#socketHost.has(socket)) {
      this.#socketHost.set(socket, stats)
      stats.connections++
      stats.maxConnections = Math.max(stats.maxConnections, stats.connections)
    }
    this.totalRequests++
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    stats.requests++
    stats.inFlight++
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
    if (stats.lastStartMillis >= 0) {
      const gap = nowMillis - stats.lastStartMillis
      stats.minGapMillis = stats.minGapMillis === null ? gap : Math.min(stats.minGapMillis, gap)
    }
    stats.lastStartMillis = nowMillis
    const second = Math.floor(nowMillis / 1000)
    if (second === stats.second) stats.secondCount++
    else {
      stats.second = second
      stats.secondCount = 1
    }
    stats.maxRequestsPerSecond = Math.max(stats.maxRequestsPerSecond, stats.secondCount)
    let ended = false
    return {
      stats,
      end: () => {
        if (ended) return
        ended = true
        this.inFlight--
        stats.inFlight--
      }
    }
  }

  /** Forget counts (in-flight numbers stay true). */
  reset(): void {
    for (const stats of this.hosts.values()) {
      const { inFlight, connections } = stats
      Object.assign(stats, fresh(), { inFlight, connections, maxInFlight: inFlight, maxConnections: connections })
    }
    this.totalRequests = 0
    this.maxInFlight = this.inFlight
    this.maxOpenConnections = this.openConnections
  }

  toJson(filter: { readonly host?: string | undefined; readonly top?: number | undefined }) {
    const view = (stats: HostStats) => ({
      requests: stats.requests,
      inFlight: stats.inFlight,
      maxInFlight: stats.maxInFlight,
      connections: stats.connections,
      maxConnections: stats.maxConnections,
      notModified: stats.notModified,
      injectedErrors: stats.injectedErrors,
      disallowedRequests: stats.disallowedRequests,
      minGapMillis: stats.minGapMillis,
      maxRequestsPerSecond: stats.maxRequestsPerSecond
    })
    let entries = [...this.hosts.entries()]
    if (filter.host !== undefined) entries = entries.filter(([host]) => host === filter.host)
    let maxInFlightPerHost = 0
    let disallowed = 0
    for (const [, stats] of this.hosts) {
      maxInFlightPerHost = Math.max(maxInFlightPerHost, stats.maxInFlight)
      disallowed += stats.disallowedRequests
    }
    if (filter.top !== undefined) {
      entries.sort((a, b) => b[1].maxInFlight - a[1].maxInFlight || b[1].requests - a[1].requests)
      entries = entries.slice(0, filter.top)
    }
    return {
      totals: {
        requests: this.totalRequests,
        inFlight: this.inFlight,
        maxInFlight: this.maxInFlight,
        openConnections: this.openConnections,
        maxOpenConnections: this.maxOpenConnections,
        hosts: this.hosts.size,
        maxInFlightPerHost,
        disallowedRequests: disallowed
      },
      hosts: Object.fromEntries(entries.map(([host, stats]) => [host, view(stats)]))
    }
  }
}
