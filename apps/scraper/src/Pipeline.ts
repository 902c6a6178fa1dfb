/**
 * The monitoring pipeline:
 *
 * ```
 * Scheduler ─▶ [jobs: bounded] ─▶ fetch fibers ─▶ [pages: bounded] ─▶ extraction
 *   ─▶ [outcomes: bounded] ─▶ store writer (batched transactions) ─▶ Scheduler.complete
 * ```
 *
 * Every queue is bounded, so a slow stage slows the one before it, up to the
 * scheduler, which reports the delay as schedule lag; memory never grows with
 * the backlog. Fetch fibers only wait on the network; extraction runs through
 * the `Extractor` service (worker threads in production). A 304 skips
 * extraction and is recorded as unchanged.
 *
 * @since 0.1.0
 */
import type { ExtractError, Product, Rules } from "@trawl/extract"
import { type FetchError, Fetcher, Page } from "@trawl/fetch"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Extractor from "./Extractor.ts"
import * as Scheduler from "./Scheduler.ts"

/**
 * A target as the pipeline sees it.
 *
 * @since 0.1.0
 */
export interface Target extends Scheduler.Schedulable {
  readonly url: string
  readonly rules?: Rules.Rules | undefined
  readonly etag?: string | undefined
  readonly lastModified?: string | undefined
  /** When the target is due (default: now); ignored in `once` mode, where all are due at once. */
  readonly dueAt?: number | undefined
  /** Consecutive failures so far (the backoff resumes from it). */
  readonly failureStreak?: number | undefined
}

/**
 * What one visit of a target produced, handed to the store writer.
 *
 * @since 0.1.0
 */
export interface Outcome {
  readonly target: Target
  readonly at: number
  /** HTTP status, when a response arrived. */
  readonly status?: number | undefined
  readonly notModified: boolean
  readonly etag?: string | undefined
  readonly lastModified?: string | undefined
  readonly product?: Product.Product | undefined
  /** The typed error's tag and message, when the visit failed. */
  readonly error?: { readonly tag: string; readonly message: string } | undefined
  readonly lagMillis: number
  /** When the scheduler will visit the target next (persist it with the outcome). */
  readonly nextDueAt?: number | undefined
}

/**
 * The store port: records a batch of outcomes in one transaction (with change
 * detection) and says which succeeded.
 *
 * @since 0.1.0
 */
export interface Writer<E> {
  readonly record: (batch: ReadonlyArray<Outcome>) => Effect.Effect<void, E>
}

/**
 * Sizes of the pipeline.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Fetch fibers (the fetcher's own global limit also applies). Default 256. */
  readonly fetchFibers?: number | undefined
  /** Extraction fibers feeding the extractor (2× its workers is plenty). Default 8. */
  readonly extractFibers?: number | undefined
  /** Capacity of the job queue; the page queue holds at most 4 × `extractFibers` (pages carry bodies), the outcome queue 2 × `maxBatch`. Default 1024. */
  readonly queueCapacity?: number | undefined
  /** Largest batch written in one transaction. Default 500. */
  readonly maxBatch?: number | undefined
  /**
   * How long the writer lets outcomes gather after the first one before it
   * writes them (unless `maxBatch` are already there). A transaction costs
   * far more than a row, so a short wait turns many small transactions into
   * a few large ones. Default 50 ms.
   */
  readonly batchWindowMillis?: number | undefined
  /** One pass: stop once every target due at the start has been recorded. */
  readonly once?: boolean | undefined
}

/**
 * Counters of a running pipeline, for progress lines and summaries.
 *
 * @since 0.1.0
 */
export interface Counters {
  readonly fetched: number
  readonly notModified: number
  readonly extracted: number
  readonly recorded: number
  readonly errorsByTag: Readonly<Record<string, number>>
  readonly inFlightFetches: number
  readonly queueDepths: { readonly jobs: number; readonly pages: number; readonly outcomes: number }
  readonly startedAt: number
}

/**
 * A running pipeline.
 *
 * @since 0.1.0
 */
export interface Running<E> {
  readonly counters: Effect.Effect<Counters>
  readonly schedule: Effect.Effect<Scheduler.Stats>
  /** Completes when a `once` pass is done (never otherwise); fails if the store writer fails. */
  readonly done: Effect.Effect<void, E>
  /**
   * Graceful stop: no more dispatches; waits (up to `deadlineMillis`) until
   * every dispatched target is recorded. Succeeds with whether it drained.
   */
  readonly drain: (deadlineMillis: number) => Effect.Effect<boolean>
  /** Schedules targets not seen before (added while running); returns how many were new. */
  readonly addTargets: (targets: ReadonlyArray<Target>) => Effect.Effect<number>
}

interface Fetched {
  readonly target: Target
  readonly at: number
  readonly lagMillis: number
  readonly page?: Page.Page | undefined
  readonly error?: FetchError.FetchError | undefined
}

const errorOf = (error: FetchError.FetchError | ExtractError.ExtractError | Extractor.ExtractorUnavailable) => ({
  tag: "reason" in error && error._tag === "ExtractError" ? `ExtractError.${String(error.reason)}` : error._tag,
  message: error.message
})

/**
 * Starts the pipeline in the current Scope over the given targets; closing the
 * Scope stops every fiber of it.
 *
 * @since 0.1.0
 */
export const start = <E>(
  targets: ReadonlyArray<Target>,
  writer: Writer<E>,
  options?: Options
) =>
  Effect.gen(function*() {
    const fetcher = yield* Fetcher.Fetcher
    const extractor = yield* Extractor.Extractor
    const capacity = options?.queueCapacity ?? 1024
    const blockedHosts = new Map<string, number>()
    const scheduler = yield* Scheduler.make<Target>({
      hostBlockedUntil: (host) => blockedHosts.get(host)
    })
    const extractFibers = options?.extractFibers ?? 8
    const maxBatch = options?.maxBatch ?? 500
    const batchWindowMillis = options?.batchWindowMillis ?? 50
    const jobs = yield* Queue.bounded<{ readonly target: Target; readonly lagMillis: number }>(capacity)
    // fetched pages hold their bodies: queue only enough to keep the extractor busy
    const pages = yield* Queue.bounded<Fetched>(Math.min(capacity, Math.max(64, extractFibers * 4)))
    const outcomes = yield* Queue.bounded<Outcome>(Math.min(capacity, maxBatch * 2))
    const startedAt = yield* Clock.currentTimeMillis
    const counts = { fetched: 0, notModified: 0, extracted: 0, recorded: 0, inFlight: 0 }
    const errorsByTag: Record<string, number> = {}
    const countError = (tag: string) => {
      errorsByTag[tag] = (errorsByTag[tag] ?? 0) + 1
    }
    const done = yield* Deferred.make<void>()
    const pending = yield* Ref.make(options?.once === true ? targets.length : Infinity)
    if (targets.length === 0 && options?.once === true) yield* Deferred.succeed(done, undefined)

    // Targets due at the same moment are interleaved by host (the k-th target
    // of a host is due k ms later), so the fetch fibers meet many hosts at
    // once instead of queueing behind one host's politeness delay.
    const rankInHost = new Map<string, number>()
    for (const target of targets) {
      const rank = rankInHost.get(target.host) ?? 0
      rankInHost.set(target.host, rank + 1)
      const dueAt = options?.once === true ? startedAt : Math.max(target.dueAt ?? startedAt, startedAt)
      yield* scheduler.upsert(target, dueAt + rank, target.failureStreak)
    }

    // scheduler → jobs
    const scheduling = yield* Effect.forkScoped(scheduler.run((target, lagMillis) => Queue.offer(jobs, { target, lagMillis })))
    if (options?.once === true) {
      // one pass: nothing is dispatched a second time
      yield* Effect.forkScoped(Effect.andThen(Deferred.await(done), Fiber.interrupt(scheduling)))
    }

    // jobs → fetch fibers → pages
    // the newest validators of each target, learned from its last 200 (sent as If-None-Match / If-Modified-Since)
    const validators = new Map<number, { readonly etag?: string | undefined; readonly lastModified?: string | undefined }>()
    const fetchOne = Effect.gen(function*() {
      const { lagMillis, target } = yield* Queue.take(jobs)
      counts.inFlight++
      const { etag, lastModified } = validators.get(target.id) ?? target
      const request = new Page.FetchRequest({
        url: target.url,
        ...(etag !== undefined || lastModified !== undefined
          ? {
            validators: new Page.Validators({
              ...(etag === undefined ? {} : { etag }),
              ...(lastModified === undefined ? {} : { lastModified })
            })
          }
          : {})
      })
      const result = yield* Effect.result(fetcher.fetchPage(request)).pipe(Effect.ensuring(Effect.sync(() => counts.inFlight--)))
      const at = yield* Clock.currentTimeMillis
      if (result._tag === "Success") {
        counts.fetched++
        yield* Queue.offer(pages, { target, at, lagMillis, page: result.success })
      } else {
        const error = result.failure
        if (error._tag === "CircuitOpen") blockedHosts.set(target.host, error.retryAt)
        yield* Queue.offer(pages, { target, at, lagMillis, error })
      }
    })
    for (let i = 0; i < (options?.fetchFibers ?? 256); i++) yield* Effect.forkScoped(Effect.forever(fetchOne))

    // pages → extraction → outcomes
    const extractOne = Effect.gen(function*() {
      const fetched = yield* Queue.take(pages)
      const { at, lagMillis, page, target } = fetched
      const base = { target, at, lagMillis }
      if (page === undefined) {
        const error = errorOf(fetched.error!)
        countError(error.tag)
        return yield* Queue.offer(outcomes, { ...base, notModified: false, error })
      }
      const http = { status: page.status, etag: page.validators.etag, lastModified: page.validators.lastModified }
      if (!page.notModified && (http.etag !== undefined || http.lastModified !== undefined)) {
        validators.set(target.id, { etag: http.etag, lastModified: http.lastModified })
      }
      if (page.notModified) {
        counts.notModified++
        return yield* Queue.offer(outcomes, { ...base, ...http, notModified: true })
      }
      const extracted = yield* Effect.result(extractor.extract({ url: page.url, body: page.body, ownsBuffer: true, charset: page.charset, rules: target.rules }))
      if (extracted._tag === "Success") {
        counts.extracted++
        yield* Queue.offer(outcomes, { ...base, ...http, notModified: false, product: extracted.success })
      } else {
        const error = errorOf(extracted.failure)
        countError(error.tag)
        yield* Queue.offer(outcomes, { ...base, ...http, notModified: false, error })
      }
    })
    for (let i = 0; i < extractFibers; i++) yield* Effect.forkScoped(Effect.forever(extractOne))

    // outcomes → store writer (batched) → scheduler.complete
    const writeBatch = Effect.gen(function*() {
      const first = yield* Queue.takeBetween(outcomes, 1, maxBatch)
      const taken = first.length >= maxBatch || batchWindowMillis <= 0
        ? first
        : [...first, ...(yield* Effect.andThen(Effect.sleep(batchWindowMillis), Queue.takeBetween(outcomes, 0, maxBatch - first.length)))]
      const batch: Array<Outcome> = []
      for (const outcome of taken) {
        const nextDueAt = yield* scheduler.complete(outcome.target.id, { ok: outcome.error === undefined })
        batch.push(nextDueAt === undefined ? outcome : { ...outcome, nextDueAt })
      }
      yield* writer.record(batch)
      counts.recorded += batch.length
      const left = yield* Ref.updateAndGet(pending, (n) => n - batch.length)
      if (left <= 0) yield* Deferred.succeed(done, undefined)
    })
    const writing = yield* Effect.forkScoped(Effect.forever(writeBatch))

    return {
      counters: Effect.gen(function*() {
        return {
          fetched: counts.fetched,
          notModified: counts.notModified,
          extracted: counts.extracted,
          recorded: counts.recorded,
          errorsByTag: { ...errorsByTag },
          inFlightFetches: counts.inFlight,
          queueDepths: { jobs: yield* Queue.size(jobs), pages: yield* Queue.size(pages), outcomes: yield* Queue.size(outcomes) },
          startedAt
        }
      }),
      schedule: scheduler.stats,
      done: Effect.raceFirst(Deferred.await(done), Fiber.join(writing)),
      addTargets: (more) =>
        Effect.gen(function*() {
          let added = 0
          for (const target of more) {
            if (scheduler.has(target.id)) continue
            yield* scheduler.upsert(target, target.dueAt, target.failureStreak)
            added++
          }
          return added
        }),
      drain: (deadlineMillis) =>
        Effect.gen(function*() {
          yield* Fiber.interrupt(scheduling)
          const drained = Effect.gen(function*() {
            while (true) {
              const { dispatched } = yield* scheduler.stats
              if (counts.recorded >= dispatched) return true
              yield* Effect.sleep("20 millis")
            }
          })
          return yield* drained.pipe(Effect.timeoutOrElse({ duration: deadlineMillis, orElse: () => Effect.succeed(false) }))
        })
    } satisfies Running<E>
  })
