/**
 * The scheduler: decides which target is fetched next.
 *
 * Every target has an interval and a due time; due targets come out of a
 * min-heap keyed by due time (O(log n) per operation, ~20 bytes per target,
 * so 1,000,000 targets need no scan and ~20 MB). One fiber hands due targets
 * to the pipeline through `dispatch`, which waits for room (backpressure):
 * when the pipeline is saturated the scheduler falls behind, and a late
 * target is just a heap entry with a due time in the past. **Schedule lag**
 * is how late a visit starts after its due time: the pipeline reports it
 * (`recordLag`) when the fetch starts, so time spent waiting for the host's
 * politeness or for room downstream counts.
 *
 * - A dispatched target is *in flight* until the pipeline reports the outcome
 *   with `complete`; then it is due again after its interval (± jitter), or,
 *   after a failure, after an exponential backoff (interval × 2^streak, capped).
 * - The scheduler knows nothing of politeness: a due target goes to its host's
 *   actor (`Pipeline`), which holds it until the host allows a start.
 * - A host's targets go out together: with a target, the other targets of its
 *   host that are due within `coalesceMillis` are dispatched (for hosts of up
 *   to `coalesceLimit` targets; a larger host's queue at its actor stays full
 *   anyway). Its host actor then visits them back to back, on one kept-alive
 *   connection, instead of one at a time as the heap's order brings them —
 *   which, with many hosts due at once, spreads a host's visits past its
 *   server's keep-alive window (measured: 2,000 hosts × 5 pages, 4,587
 *   connections instead of 2,000).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Random from "effect/Random"
import { DueHeap } from "./internal/dueHeap.ts"

/**
 * What the scheduler needs to know of a target.
 *
 * @since 0.1.0
 */
export interface Schedulable {
  /** A non-negative integer id (the store's target id). */
  readonly id: number
  readonly host: string
  readonly intervalMillis: number
}

/** A host's targets due within this long of one dispatched go with it (within a tenth of their interval at most). */
const coalesceMillis = 5_000
/** Hosts with more targets than this are not coalesced. */
const coalesceLimit = 64
/** Targets handed out in one step of the scheduler's loop at most (between two yields to the event loop). */
const dispatchBatch = 1024

/**
 * Options of a scheduler.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Random spread of each next due time, as a fraction of the interval (0–1). Default 0.1. */
  readonly jitter?: number | undefined
  /** Upper bound of the failure backoff. Default 6 hours. */
  readonly maxBackoffMillis?: number | undefined
  /** How many recent lags to keep for percentiles. Default 4096. */
  readonly lagWindow?: number | undefined
  /** One pass: `complete` says when a target is due next but does not schedule it again. */
  readonly once?: boolean | undefined
}

/**
 * Schedule lag of visits, in milliseconds: how late each fetch started after its target's due time.
 *
 * @since 0.1.0
 */
export const lagHistogram = Metric.histogram("trawl_schedule_lag_ms", {
  description: "Delay between a target's due time and the start of its visit",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 12 })
})

/**
 * A running schedule over targets of type `T`.
 *
 * @since 0.1.0
 */
export interface Scheduler<T extends Schedulable> {
  /** Adds a target (or updates it), due at `dueAt` (default: now). */
  readonly upsert: (target: T, dueAt?: number, failureStreak?: number) => Effect.Effect<void>
  readonly remove: (id: number) => Effect.Effect<void>
  /** Reports the outcome of a dispatched target and schedules its next visit. */
  readonly complete: (id: number, outcome: { readonly ok: boolean }) => Effect.Effect<number | undefined>
  /** Dispatches due targets through `dispatch` until interrupted. */
  readonly run: <E, R>(dispatch: (target: T, dueAt: number) => Effect.Effect<void, E, R>) => Effect.Effect<never, E, R>
  /**
   * Records a target's schedule lag: how late its visit started after its
   * due time (the pipeline reports it when the fetch starts, so the time a
   * target waited for its host or for room downstream counts).
   */
  readonly recordLag: (lagMillis: number) => Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
  /** Is this target scheduled (waiting or in flight)? */
  readonly has: (id: number) => boolean
  /** The scheduled target of this id, as last upserted. */
  readonly get: (id: number) => T | undefined
  /** The ids of every scheduled target. */
  readonly ids: () => Iterable<number>
}

/**
 * A snapshot of the schedule.
 *
 * @since 0.1.0
 */
export interface Stats {
  readonly targets: number
  readonly inFlight: number
  /** Targets whose due time has passed and that wait for dispatch. */
  readonly overdue: number
  readonly lagP50Millis: number
  readonly lagP99Millis: number
  readonly dispatched: number
}

const percentile = (values: Float64Array, count: number, p: number): number => {
  if (count === 0) return 0
  const sorted = values.slice(0, count).sort()
  return sorted[Math.min(count - 1, Math.floor(p * count))]!
}

/**
 * Creates a scheduler.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Scheduler } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const scheduler = yield* Scheduler.make({ jitter: 0.1 })
 *   yield* scheduler.upsert({ id: 1, host: "shop.example", intervalMillis: 300_000 })
 *   // yield* scheduler.run((target) => Queue.offer(jobs, target))
 * })
 * ```
 * @since 0.1.0
 */
export const make = <T extends Schedulable>(options?: Options): Effect.Effect<Scheduler<T>> =>
  Effect.sync(() => {
    const jitter = Math.min(1, Math.max(0, options?.jitter ?? 0.1))
    const maxBackoff = options?.maxBackoffMillis ?? 6 * 3600_000
    const once = options?.once === true
    const heap = new DueHeap()
    const targets: Array<T | undefined> = []
    // target ids per host, for coalescing (hosts of more than `coalesceLimit` are not coalesced)
    const byHost = new Map<string, Array<number>>()
    const streaks: Array<number> = []
    const inFlight = new Set<number>()
    const lagWindow = Math.max(16, options?.lagWindow ?? 4096)
    const lags = new Float64Array(lagWindow)
    let lagCount = 0
    let lagNext = 0
    let dispatched = 0
    let wake: Deferred.Deferred<void> | undefined

    const signal = () => {
      if (wake !== undefined) {
        Deferred.doneUnsafe(wake, Effect.void)
        wake = undefined
      }
    }

    const nextDue = (id: number, now: number, ok: boolean) =>
      Effect.map(Random.next, (random) => {
        const target = targets[id]!
        if (!ok) {
          const streak = streaks[id] ?? 1
          return now + Math.min(maxBackoff, target.intervalMillis * 2 ** Math.min(streak, 30))
        }
        const spread = target.intervalMillis * jitter
        return now + target.intervalMillis + (random * 2 - 1) * spread
      })

    const forget = (id: number, host: string) => {
      const ids = byHost.get(host)
      if (ids === undefined) return
      const at = ids.indexOf(id)
      if (at >= 0) ids.splice(at, 1)
      if (ids.length === 0) byHost.delete(host)
    }

    const upsert = (target: T, dueAt?: number, failureStreak?: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const before = targets[target.id]
        if (before?.host !== target.host) {
          if (before !== undefined) forget(target.id, before.host)
          const ids = byHost.get(target.host)
          if (ids === undefined) byHost.set(target.host, [target.id])
          else ids.push(target.id)
        }
        targets[target.id] = target
        streaks[target.id] = failureStreak ?? streaks[target.id] ?? 0
        if (!inFlight.has(target.id)) heap.set(target.id, dueAt ?? now)
        signal()
      })

    const remove = (id: number) =>
      Effect.sync(() => {
        heap.delete(id)
        inFlight.delete(id)
        const target = targets[id]
        if (target !== undefined) forget(id, target.host)
        targets[id] = undefined
      })

    const complete = (id: number, outcome: { readonly ok: boolean }) =>
      Effect.gen(function*() {
        if (!inFlight.delete(id) || targets[id] === undefined) return undefined
        streaks[id] = outcome.ok ? 0 : (streaks[id] ?? 0) + 1
        const now = yield* Clock.currentTimeMillis
        const due = yield* nextDue(id, now, outcome.ok)
        if (once) {
          forget(id, targets[id]!.host)
          targets[id] = undefined
          return due
        }
        heap.set(id, due)
        signal()
        return due
      })

    const waitUntil = (dueAt: number | undefined, now: number) =>
      Effect.suspend(() => {
        const signalled = Deferred.makeUnsafe<void>()
        wake = signalled
        const sleep = dueAt === undefined ? Effect.never : Effect.sleep(Math.max(0, dueAt - now))
        return Effect.raceFirst(sleep, Deferred.await(signalled))
      })

    const recordLag = (lag: number) =>
      Effect.suspend(() => {
        lags[lagNext] = lag
        lagNext = (lagNext + 1) % lagWindow
        lagCount = Math.min(lagWindow, lagCount + 1)
        return Metric.update(lagHistogram, lag)
      })

    // Every due target (up to `dispatchBatch`) goes out in one step of the loop: `Effect.forever`
    // yields to the event loop between steps, and one target a step held dispatch to one per
    // turn of a busy event loop (measured: ~700 targets/s, the pass's throughput, with the fetch
    // stage nearly idle).
    const run = <E, R>(dispatch: (target: T, dueAt: number) => Effect.Effect<void, E, R>): Effect.Effect<never, E, R> =>
      Effect.forever(Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const dueAt = heap.peekDue()
        if (dueAt === undefined || dueAt > now) {
          return yield* waitUntil(dueAt, now)
        }
        for (let sent = 0; sent < dispatchBatch; sent++) {
          const due = heap.peekDue()
          if (due === undefined || due > now) return
          const id = heap.pop()!
          const target = targets[id]!
          yield* handOut(id, target, due, dispatch)
          const siblings = byHost.get(target.host)
          if (siblings === undefined || siblings.length === 1 || siblings.length > coalesceLimit) continue
          for (const other of siblings.slice()) {
            const otherDue = heap.dueOf(other)
            // never earlier than a tenth of its interval: a short interval is not shortened much
            const early = Math.min(coalesceMillis, targets[other]!.intervalMillis / 10)
            if (otherDue === undefined || otherDue > now + early) continue
            heap.delete(other)
            yield* handOut(other, targets[other]!, otherDue, dispatch)
            sent++
          }
        }
      })) as Effect.Effect<never, E, R>

    const handOut = <E, R>(
      id: number,
      target: T,
      dueAt: number,
      dispatch: (target: T, dueAt: number) => Effect.Effect<void, E, R>
    ): Effect.Effect<void, E, R> => {
      inFlight.add(id)
      // A dispatch interrupted while it waits for room (a stop, a restart of
      // the stage) puts the target back as it was: it was never handed out.
      return Effect.map(
        Effect.onInterrupt(dispatch(target, dueAt), () =>
          Effect.sync(() => {
            if (inFlight.delete(id) && targets[id] !== undefined) heap.set(id, dueAt)
          })),
        () => {
          dispatched++
        }
      )
    }

    const stats = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // counts only the overdue part of the heap, and at most 10,000 of it
      let overdue = 0
      const due = heap.peekDue()
      if (due !== undefined && due <= now) overdue = heap.countDueBefore(now, 10_000)
      return {
        targets: heap.size + inFlight.size,
        inFlight: inFlight.size,
        overdue,
        lagP50Millis: percentile(lags, lagCount, 0.5),
        lagP99Millis: percentile(lags, lagCount, 0.99),
        dispatched
      }
    })

    const has = (id: number) => targets[id] !== undefined

    const ids = function*() {
      for (let id = 0; id < targets.length; id++) if (targets[id] !== undefined) yield id
    }

    const get = (id: number) => targets[id]

    return { upsert, remove, complete, run, recordLag, stats, has, get, ids }
  })
