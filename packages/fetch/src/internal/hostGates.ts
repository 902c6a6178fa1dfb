/**
 * Host gates: per-host permits, start spacing, throttle and circuit state.
 *
 * A gate is a plain record created on the first request to a host and
 * removed by one sweeper fiber once the host has been idle for `idleMillis`
 * (and is not cooling down). An idle host therefore costs no fiber and, after
 * the idle time, no memory.
 *
 * @internal
 */
import { Permits } from "./permits.ts"

export type Circuit = "closed" | "open" | "halfOpen"

export interface HostGate {
  readonly host: string
  readonly permits: Permits
  /** Fibers inside the gate: waiting for a permit or holding one. */
  users: number
  /** Earliest epoch ms at which the next request may start. */
  nextAllowedAt: number
  throttleDelayMillis: number
  crawlDelayMillis: number
  consecutiveFailures: number
  circuit: Circuit
  /** When an open circuit lets a probe through. */
  retryAt: number
  probing: boolean
  cooldownMillis: number
  lastUsedAt: number
}

export interface GateOptions {
  readonly perHostConcurrency: number
  readonly idleMillis: number
}

export class HostGates {
  readonly gates = new Map<string, HostGate>()
  readonly options: GateOptions
  constructor(options: GateOptions) {
    this.options = options
  }

  enter(host: string, now: number): HostGate {
    let gate = this.gates.get(host)
    if (gate === undefined) {
      gate = {
        host,
        permits: new Permits(this.options.perHostConcurrency),
        users: 0,
        nextAllowedAt: 0,
        throttleDelayMillis: 0,
        crawlDelayMillis: 0,
        consecutiveFailures: 0,
        circuit: "closed",
        retryAt: 0,
        probing: false,
        cooldownMillis: 0,
        lastUsedAt: now
      }
      this.gates.set(host, gate)
    }
    gate.users++
    return gate
  }

  leave(gate: HostGate, now: number): void {
    gate.users--
    gate.lastUsedAt = now
  }

  /** Removes idle gates; returns how many were removed. */
  sweep(now: number): number {
    let removed = 0
    for (const [host, gate] of this.gates) {
      if (
        gate.users === 0 && now - gate.lastUsedAt >= this.options.idleMillis && gate.nextAllowedAt <= now &&
        (gate.circuit === "closed" || now >= gate.retryAt)
      ) {
        this.gates.delete(host)
        removed++
      }
    }
    return removed
  }
}
