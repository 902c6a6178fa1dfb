/**
 * Host actors: one actor per host, created on demand and passivated when idle
 * (`Keyed` of `@trawl/actor`), holding that host's due targets and handing
 * one to the fetch stage only when the host allows a start now.
 *
 * The politeness itself — the per-host limit, start spacing, Crawl-delay,
 * adaptive throttle, Retry-After and the circuit — is the fetcher's host gate,
 * the same one every fetch goes through: a host actor asks it for a start
 * (`Fetcher.reserve`) and passes the `Reservation` with the job, so the
 * fetch's first attempt starts at once. One mechanism, decided before the
 * fetch: no fetch slot waits for a slow host. A host that must wait holds a
 * timer until its next start (spacing, Retry-After); a host at its limit
 * waits for one of its fetches to end (`finished`); a host whose circuit is
 * open hands its due jobs on without a start, to fail at once (`CircuitOpen`)
 * rather than hold them for the cooldown.
 *
 * Hosts take **turns**: at most `maxActive` hosts hand jobs to the fetch
 * stage at once, each working through its due jobs before the next host in
 * line gets a turn. Without turns every host with due jobs takes starts, the
 * fetch stage's queue goes round all of them, and a host's consecutive
 * visits end up as far apart as that queue takes to pass — past a server's
 * keep-alive window (measured on 2,000 hosts × 5 pages all due: 2,781
 * connections, up to 3 per host, instead of 2,000). A host whose next start
 * is more than `holdMillis` away (a Crawl-delay, a long Retry-After) gives
 * its turn up meanwhile, so slow hosts do not hold turns fast hosts could use.
 *
 * The protocol is a plain message set (`Message`), so a host actor can move
 * to a cluster entity unchanged. An idle host (nothing queued, no timer) is
 * passivated after `idleTimeout` and holds nothing: not a fiber, not a byte.
 *
 * @since 0.2.0
 */
import { Actor, Behavior, Keyed } from "@trawl/actor"
import { Reservation } from "@trawl/fetch"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Wakeups } from "./internal/wakeups.ts"

/**
 * What a host actor is told: a due job; that one of its fetches ended (it may
 * start another); that its timer fired; that it is prepared (`Options.prepare`).
 *
 * @since 0.2.0
 */
export type Message<J> =
  | { readonly _tag: "Due"; readonly host: string; readonly job: J }
  | { readonly _tag: "Finished" }
  | { readonly _tag: "Wake" }
  | { readonly _tag: "Prepared" }

/**
 * A host with work: due jobs, or a timer. An idle host's state is `undefined`
 * (see `receive`): the behaviour is shared by every host, so an idle host
 * actor keeps no object of its own for its state or behaviour.
 */
interface State<J> {
  readonly host: string
  /** Due jobs, in the order they came. */
  readonly queue: Array<J>
  /** Index of the next job in `queue` (a queue that only grows at the end and is read from the front). */
  head: number
  /** When the timer of a host that must wait fires. */
  wakeAt: number | undefined
  /** `prepare`: still to run once the host has its turn, running (nothing starts until it is done), or done. */
  prepare: "pending" | "running" | "done"
  /** Jobs handed to the fetch stage whose `Finished` has not come yet. */
  inFlight: number
  /** The host has its turn. */
  active: boolean
  /** The host is in line for a turn. */
  waiting: boolean
  /** The host gave its turn up for a short wait (spacing): it goes ahead of the line when it wakes. */
  returning: boolean
}

/**
 * A host whose next start is at most this far away comes back ahead of the
 * line (its connection is still warm); one that must wait longer joins the
 * back of the line when it wakes.
 */
const holdMillis = 1_000

const finished: Message<never> = { _tag: "Finished" }
const wake: Message<never> = { _tag: "Wake" }
const prepared: Message<never> = { _tag: "Prepared" }

/**
 * Options of the host actors.
 *
 * @since 0.2.0
 */
export interface Options<J, E, R> {
  /** Takes a start on a host now, or says when to ask again (`Fetcher.Service.reserve`). */
  readonly reserve: (host: string) => Effect.Effect<Reservation.Reservation | Reservation.Refusal>
  /**
   * Runs once a host that had no work gets its turn, before its first start, in a fiber of its
   * own (the host actor goes on taking messages): e.g. `Fetcher.prepare` (robots.txt and its
   * Crawl-delay), so a first fetch never waits in the host's gate holding a fetch slot, and the
   * connection it opened is still warm for the first page. It should not fail; a failure is
   * ignored.
   */
  readonly prepare?: ((job: J) => Effect.Effect<void>) | undefined
  /**
   * Hands a job with its host's reservation to the fetch stage (waits for room: backpressure).
   * Without one when the host's circuit is open: the job's fetch is to fail at once.
   */
  readonly start: (job: J, reservation: Reservation.Reservation | undefined) => Effect.Effect<void, E, R>
  /** An idle host actor (nothing queued, no timer) is passivated after this long. Default 1 minute. */
  readonly idleTimeout?: Duration.Input | undefined
  /** Capacity of each host actor's mailbox. Default 1024. */
  readonly capacity?: number | undefined
  /** Hosts that hand jobs to the fetch stage at once (turns). Default 256. */
  readonly maxActive?: number | undefined
}

/**
 * The running host actors.
 *
 * @since 0.2.0
 */
export interface Hosts<J> {
  /** A job is due on `host`: queued at its host actor (created if needed). */
  readonly due: (host: string, job: J) => Effect.Effect<void>
  /** One of `host`'s fetches ended: its actor may start the next job. */
  readonly finished: (host: string) => Effect.Effect<void>
  /** Host actors alive now (not passivated). */
  readonly size: Effect.Effect<number>
  /** From now on nothing more is handed to the fetch stage (a graceful stop): queued jobs stay where they are. */
  readonly stopStarting: Effect.Effect<void>
}

/**
 * Starts the host actors in the current Scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher } from "@trawl/fetch"
 * import { Hosts } from "@trawl/scraper"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const fetcher = yield* Fetcher.Fetcher
 *   const hosts = yield* Hosts.make<string>({
 *     reserve: fetcher.reserve,
 *     start: (url, reservation) => Effect.asVoid(Effect.ignore(fetcher.fetchPage(url, { reservation })))
 *   })
 *   yield* hosts.due("shop.example", "https://shop.example/p/1")
 * }))
 * ```
 * @since 0.2.0
 */
export const make = <J, E = never, R = never>(options: Options<J, E, R>): Effect.Effect<Hosts<J>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    let starting = true
    // Timers and preparations run here, not in a host actor's incarnation scope:
    // a finalizer of their own there would be kept for the actor's whole life.
    // A host with a timer is never passivated (`keepIdle`), and a Wake for an
    // actor that is gone is ignored. One fiber serves every host's timer.
    const timers = yield* Effect.scope
    const wakeups = new Wakeups<Actor.ActorRef<Message<J>>>((self) => Effect.ignore(Actor.tell(self, wake)), timers)
    const prepare = options.prepare
    const maxActive = options.maxActive ?? 256
    // Turns: how many hosts have one, who waits for one — hosts back from a short wait first, then
    // the line (each first come, first served) — and the hosts a turn was handed to (a turn given
    // up goes straight to the next waiting host).
    let active = 0
    const returning = new Line<Actor.ActorRef<Message<J>>>()
    const line = new Line<Actor.ActorRef<Message<J>>>()
    const handed = new Set<string>()

    /** Takes a turn for the host, or puts it in line (a `Wake` comes with its turn). */
    const takeTurn = (state: State<J>, context: Actor.ActorContext<Message<J>>): boolean => {
      // A turn handed over is counted already; a free one means nobody waits ahead of this host.
      const free = active < maxActive && returning.isEmpty() && (state.returning || line.isEmpty())
      if (handed.delete(state.host) || (free && ++active > 0)) {
        state.active = true
        state.waiting = false
        state.returning = false
        return true
      }
      if (!state.waiting) {
        state.waiting = true
        ;(state.returning ? returning : line).push(state.host, context.self)
      }
      return false
    }

    /**
     * Gives the host's turn to the next waiting host, if any. A host that gives it up for a short
     * wait (`returning`) uses no fetch slot meanwhile, and comes back ahead of the line.
     */
    const giveTurn = (state: State<J>, returningAfter: boolean): Effect.Effect<void> => {
      state.returning = returningAfter
      if (!state.active) return Effect.void
      state.active = false
      const next = returning.shift() ?? line.shift()
      if (next === undefined) {
        active--
        return Effect.void
      }
      handed.add(next.host)
      return Effect.ignore(Actor.tell(next.value, wake))
    }

    /** Hands jobs out while the host allows a start; else leaves a timer, or waits for a fetch to end. */
    const pump = (state: State<J>, context: Actor.ActorContext<Message<J>>): Effect.Effect<void, never, R> =>
      Effect.gen(function*() {
        while (state.head < state.queue.length && starting && state.prepare !== "running") {
          // a host that gave its turn up for a wait takes one again when its timer fires
          if (!state.active && (state.wakeAt !== undefined || !takeTurn(state, context))) return
          if (state.prepare === "pending" && prepare !== undefined) {
            // with its turn, so its connection is still open when the first page goes
            state.prepare = "running"
            const ready = Effect.andThen(Effect.ignore(prepare(state.queue[state.head]!)), Effect.ignore(Actor.tell(context.self, prepared)))
            yield* Effect.forkIn(ready, timers)
            return
          }
          const reserved = yield* options.reserve(state.host)
          if (Reservation.isReservation(reserved)) {
            const job = state.queue[state.head]!
            state.queue[state.head++] = undefined as J
            if (state.head === state.queue.length) {
              state.queue.length = 0
              state.head = 0
            }
            // a fetch stage that is gone (the run is stopping) gives the start back
            state.inFlight++
            yield* options.start(job, reserved).pipe(
              Effect.catchCause(() => Effect.andThen(Effect.sync(() => state.inFlight--), Reservation.release(reserved)))
            )
            continue
          }
          // Busy: one of the host's fetches is in flight, and its end pumps again
          if (reserved._tag === "Busy") return
          if (reserved.reason === "circuit") {
            // The host failed (or timed out): its due jobs go on without a start and their fetches
            // fail at once (`CircuitOpen`), so they are recorded now instead of holding a pass
            // for the cooldown. The scheduler brings them back.
            const shed = state.queue.slice(state.head)
            state.queue.length = 0
            state.head = 0
            for (const job of shed) {
              state.inFlight++
              yield* options.start(job, undefined).pipe(Effect.catchCause(() => Effect.sync(() => state.inFlight--)))
            }
            break
          }
          // spacing or Retry-After: a timer waits, not a fetch slot nor a turn (the fetch stage's
          // fibers serve hosts that can start now); after a short wait the host comes back first
          const now = yield* Clock.currentTimeMillis
          yield* giveTurn(state, reserved.at - now <= holdMillis)
          if (state.wakeAt === undefined || reserved.at < state.wakeAt) {
            state.wakeAt = reserved.at
            yield* wakeups.add(reserved.at, context.self)
          }
          return
        }
        // nothing left to start and nothing in flight: the turn was kept until now, as a job due
        // meanwhile would still find the connection open
        if (state.head === state.queue.length && state.inFlight === 0) yield* giveTurn(state, false)
      })

    /** A host with nothing queued and no timer keeps no state (it is recreated by its next `Due`). */
    const settled = (state: State<J>): State<J> | undefined =>
      state.head < state.queue.length || state.wakeAt !== undefined || state.prepare === "running" || state.inFlight > 0
        ? state
        : undefined

    // one behaviour for every host: the host comes with its first `Due`
    const behavior = Behavior.make<Message<J>, State<J> | undefined, never, R>({
      init: Effect.succeed(undefined),
      receive: (current, message, context) => {
        let state = current
        if (message._tag === "Due") {
          if (state === undefined) {
            state = {
              host: message.host,
              queue: [message.job],
              head: 0,
              wakeAt: undefined,
              prepare: prepare === undefined ? "done" : "pending",
              inFlight: 0,
              active: false,
              waiting: false,
              returning: false
            }
          } else {
            state.queue.push(message.job)
          }
        } else if (state === undefined) {
          // nothing queued, no timer: a fetch that ended, or a stale Wake, has nothing to start
          return Effect.succeed(undefined)
        } else if (message._tag === "Wake") {
          state.wakeAt = undefined
        } else if (message._tag === "Prepared") {
          state.prepare = "done"
        } else if (state.inFlight > 0) {
          // Finished (a job redelivered after a restart of the fetch stage was not counted here)
          state.inFlight--
        }
        const pumped = state
        return Effect.map(pump(pumped, context), () => settled(pumped))
      }
    })

    const registry = yield* Effect.orDie(Keyed.make({
      name: "hosts",
      behavior: (_host: string) => behavior,
      mailbox: { capacity: options.capacity ?? 1024, overflow: "backpressure" },
      idleTimeout: options.idleTimeout ?? "1 minute",
      // an idle host's state is `undefined`: one with state has jobs queued or a timer
      keepIdle: (state) => state !== undefined
    }))

    return {
      // a registry that is closed only when the run is torn down
      due: (host, job) => Effect.ignore(Keyed.tell(registry, host, { _tag: "Due", host, job })),
      finished: (host) => Effect.ignore(Keyed.tell(registry, host, finished)),
      size: Keyed.size(registry),
      stopStarting: Effect.sync(() => {
        starting = false
      })
    } satisfies Hosts<J>
  })

/** Hosts waiting for a turn, first come, first served: a queue read from the front. */
class Line<A> {
  private readonly items: Array<{ readonly host: string; readonly value: A } | undefined> = []
  private head = 0
  isEmpty(): boolean {
    return this.head === this.items.length
  }
  push(host: string, value: A): void {
    this.items.push({ host, value })
  }
  shift(): { readonly host: string; readonly value: A } | undefined {
    if (this.head === this.items.length) return undefined
    const next = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    }
    return next
  }
}
