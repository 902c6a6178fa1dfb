/**
 * Host gates: per-host permits, start spacing, throttle and circuit state.
 *
 * A host is the URL's hostname, without the port: every port of one machine
 * shares one gate (robots.txt stays per origin).
 *
 * A gate is a plain record created on the first request to a host and
 * removed by one sweeper fiber once the host has been idle for `idleMillis`
 * (and is not cooling down). An idle host therefore costs no fiber and, after
 * the idle time, no memory.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import type { Refusal } from "../Reservation.ts"
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

  /**
   * Counts the gates now held back: throttled (the adaptive throttle spaces
   * the host's starts by at least `backoffFloorMillis` and by more than the
   * configured minimum and `Crawl-delay` — backed off after 429/503 or
   * failures, or slowed for a slow server — or a `Retry-After` pushed its next
   * start past the usual spacing) and with a circuit not closed. One pass over
   * the gates: read about once a second by a dashboard, never on a request's path.
   */
  states(now: number, perHostMinDelayMillis: number, backoffFloorMillis: number): { held: number; throttled: number; circuitOpen: number } {
    let throttled = 0
    let circuitOpen = 0
    for (const gate of this.gates.values()) {
      if (gate.circuit !== "closed") circuitOpen++
      const slowed = gate.throttleDelayMillis >= backoffFloorMillis &&
        gate.throttleDelayMillis > Math.max(perHostMinDelayMillis, gate.crawlDelayMillis)
      if (slowed || gate.nextAllowedAt - now > delayOf(perHostMinDelayMillis, gate)) throttled++
    }
    return { held: this.gates.size, throttled, circuitOpen }
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

/** The delay between two starts on a host: the largest of the minimum, `Crawl-delay` and throttle. */
export const delayOf = (perHostMinDelayMillis: number, gate: HostGate): number =>
  Math.max(perHostMinDelayMillis, gate.crawlDelayMillis, gate.throttleDelayMillis)

/** The circuit's admission: "go", "probe" (half-open: this start is the probe), or the time it reopens. */
export const admit = (gate: HostGate, now: number): "go" | "probe" | number => {
  switch (gate.circuit) {
    case "closed":
      return "go"
    case "open":
      if (now < gate.retryAt) return gate.retryAt
      gate.circuit = "halfOpen"
      gate.probing = true
      return "probe"
    case "halfOpen":
      if (gate.probing) return Math.max(gate.retryAt, now)
      gate.probing = true
      return "probe"
  }
}

/** Brands the public `Reservation.Reservation` type. */
export const ReservationTypeId: unique symbol = Symbol.for("@trawl/fetch/Reservation")

/** Held by its holder; taken over by a `fetchPage` call; given back (or used up by the call). */
export const Held = 0
export const Taken = 1
export const Released = 2

/**
 * A start on a host taken without waiting: the host permit and the start slot
 * (`nextAllowedAt` advanced to `reservedNext`), and the half-open probe when
 * `probe`. Holds the gate as one of its users, so the sweeper keeps the gate.
 */
export class HostReservation {
  readonly [ReservationTypeId]: typeof ReservationTypeId = ReservationTypeId
  state: typeof Held | typeof Taken | typeof Released = Held
  readonly gates: HostGates
  readonly gate: HostGate
  readonly probe: boolean
  readonly clock: Clock.Clock
  /** `nextAllowedAt` before the reservation, restored when it is given back unused. */
  readonly previousAllowedAt: number
  readonly reservedNext: number
  constructor(
    gates: HostGates,
    gate: HostGate,
    probe: boolean,
    clock: Clock.Clock,
    previousAllowedAt: number,
    reservedNext: number
  ) {
    this.gates = gates
    this.gate = gate
    this.probe = probe
    this.clock = clock
    this.previousAllowedAt = previousAllowedAt
    this.reservedNext = reservedNext
  }

  get host(): string {
    return this.gate.host
  }
}

const busy = { _tag: "Busy" } as const


/**
 * Takes a start on `host` now if politeness allows one — the same checks, on
 * the same gate, as an attempt's admission (job.ts), minus any waiting.
 */
export const reserve = (
  gates: HostGates,
  perHostMinDelayMillis: number,
  host: string,
  clock: Clock.Clock
): HostReservation | Refusal => {
  const now = clock.currentTimeMillisUnsafe()
  const gate = gates.enter(host, now)
  if (gate.circuit === "open" && now < gate.retryAt) {
    gates.leave(gate, now)
    return { _tag: "NotBefore", at: gate.retryAt, reason: "circuit" }
  }
  // A half-open host's probe is out: it is limited to that one request until the probe ends.
  if (gate.circuit === "halfOpen" && gate.probing) {
    gates.leave(gate, now)
    return busy
  }
  if (!gate.permits.tryTake()) {
    gates.leave(gate, now)
    return busy
  }
  if (gate.nextAllowedAt > now) {
    gate.permits.release()
    gates.leave(gate, now)
    return { _tag: "NotBefore", at: gate.nextAllowedAt, reason: "spacing" }
  }
  const previous = gate.nextAllowedAt
  gate.nextAllowedAt = now + delayOf(perHostMinDelayMillis, gate)
  const probe = admit(gate, now) === "probe"
  return new HostReservation(gates, gate, probe, clock, previous, gate.nextAllowedAt)
}

/** Gives back a reservation no call has taken (a no-op otherwise): permit, probe, slot, gate. */
export const giveBack = (reservation: HostReservation): void => {
  if (reservation.state !== Held) return
  reservation.state = Released
  const gate = reservation.gate
  if (reservation.probe) gate.probing = false
  // The slot was not used: unless another start (or a Retry-After) moved it since, it is free again.
  if (gate.nextAllowedAt === reservation.reservedNext) gate.nextAllowedAt = reservation.previousAllowedAt
  gate.permits.release()
  reservation.gates.leave(gate, reservation.clock.currentTimeMillisUnsafe())
}
