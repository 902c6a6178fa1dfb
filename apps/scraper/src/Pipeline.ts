/**
 * The monitoring pipeline, as actors of the supervision tree (`Supervision`):
 *
 * ```
 * scheduler ─▶ host actor (one per host) ─▶ [fetch mailbox] ─▶ fetch stage
 *   ─▶ [extraction mailbox] ─▶ extraction ─▶ [writer mailbox] ─▶ store writer
 *   (batched transactions) ─▶ schedule.complete
 * ```
 *
 * A host actor holds its host's due targets and hands one to the fetch stage
 * only when the fetcher's politeness for that host (per-host limit, start
 * spacing, Crawl-delay, adaptive throttle, Retry-After, circuit) allows a
 * start now: it takes a `Reservation` from the fetcher, which decides on the
 * same host gate every fetch goes through — one mechanism, not two. No
 * fetch slot ever waits for a slow host; a host that must wait holds a
 * timer, not a slot. Host actors are created on demand and passivated when
 * idle (`Keyed`).
 *
 * Every mailbox is bounded and applies backpressure, so a slow stage slows
 * the one before it, up to the scheduler, which reports the delay as
 * schedule lag; memory never grows with the backlog. The fetch stage only
 * waits on the network; extraction runs through the `Extractor` service
 * (worker threads in production), which also decompresses each page and
 * chooses its charset (pages are fetched as received, `decodeBody: false`):
 * the event loop never inflates a page. A 304 skips extraction and is recorded as
 * unchanged. The store writer retries transient store errors (a lock held by
 * another process, a Postgres restart) with capped backoff for up to the
 * outage budget, holding its batch: nothing is lost and nothing is written
 * twice.
 *
 * Under an exporting tracer (`Telemetry`) each visit has a span from its
 * dispatch to its outcome's write, carried in the stages' messages, with the
 * fetch, the extraction and the store write as its children; under effect's
 * native tracer (no export) the pipeline makes no span at all.
 *
 * @since 0.1.0
 */
import { Actor, type ActorError, Behavior, Supervisor } from "@trawl/actor"
import type { ExtractError, Product, Rules } from "@trawl/extract"
import { type Decode, type FetchError, Fetcher, Page, Reservation } from "@trawl/fetch"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import * as Extractor from "./Extractor.ts"
import * as Hosts from "./Hosts.ts"
import * as Scheduler from "./Scheduler.ts"
import * as StoreWriter from "./StoreWriter.ts"
import * as Supervision from "./Supervision.ts"
import * as Loop from "./internal/loop.ts"
import * as VisitSpans from "./internal/visitSpans.ts"

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
  /**
   * The visit's span (`Telemetry`), under an exporting tracer: the store
   * writer ends it once the outcome is written.
   *
   * @since 0.3.0
   */
  readonly visit?: Tracer.Span | undefined
}

/**
 * The store port: records a batch of outcomes in one transaction (with change
 * detection); `isTransient` tells the errors worth retrying (`StoreWriter`).
 *
 * @since 0.1.0
 */
export type Writer<E> = StoreWriter.Port<Outcome, E>

/**
 * Sizes of the pipeline.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Requests the fetch stage runs at once (the fetcher's own global limit also applies). Default 256. */
  readonly fetchFibers?: number | undefined
  /** Pages the extraction stage hands the extractor at once (2× its workers is plenty). Default 8. */
  readonly extractFibers?: number | undefined
  /** Capacity of the fetch stage's mailbox; extraction's holds at most 4 × `extractFibers` (pages carry bodies), the writer's 2 × `maxBatch`. Default 1024. */
  readonly queueCapacity?: number | undefined
  /** Largest batch written in one transaction. Default 500. */
  readonly maxBatch?: number | undefined
  /**
   * After writing a batch smaller than `maxBatch`, the writer waits this long
   * before it takes the next one, so outcomes gather meanwhile: a
   * transaction costs far more than a row, and many small transactions
   * become a few large ones. Default 50 ms.
   */
  readonly batchWindowMillis?: number | undefined
  /** How long the writer keeps retrying a store that is unavailable before the run stops. Default 5 minutes. */
  readonly outageBudgetMillis?: number | undefined
  /** One pass: stop once every target due at the start has been recorded. */
  readonly once?: boolean | undefined
  /** The supervisor to build the pipeline's subtrees under (default: a root of its own, in the current Scope). */
  readonly supervisor?: Supervisor.Supervisor | undefined
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
  /** Messages waiting in each stage's mailbox. */
  readonly queueDepths: { readonly jobs: number; readonly pages: number; readonly outcomes: number }
  /** The most each stage's mailbox holds (a full one makes its senders wait). */
  readonly queueCapacities: { readonly jobs: number; readonly pages: number; readonly outcomes: number }
  /** Since when the store has been failing with transient errors (the writer retries); undefined while it works. */
  readonly storeUnavailableSince?: number | undefined
  readonly startedAt: number
}

/**
 * A stage kept failing: its supervisor's restart intensity was exceeded.
 *
 * @since 0.1.0
 */
export class StageFailed extends Data.TaggedError("StageFailed")<{
  readonly reason: string
  readonly cause: Cause.Cause<unknown>
}> {
  override get message(): string {
    return this.reason
  }
}

/**
 * A running pipeline.
 *
 * @since 0.1.0
 */
export interface Running<E> {
  readonly counters: Effect.Effect<Counters>
  readonly schedule: Effect.Effect<Scheduler.Stats>
  /**
   * Completes when a `once` pass is done (never otherwise); fails when the
   * writer meets an error it cannot retry (or the outage budget runs out),
   * or a stage keeps failing.
   */
  readonly done: Effect.Effect<void, E | StoreWriter.StoreUnavailable | StageFailed>
  /**
   * Graceful stop: the scheduler stops dispatching, then each stage is
   * stopped in turn once it has handled what it holds (fetch, extraction,
   * the writer). Waits up to `deadlineMillis`; succeeds with whether it drained.
   */
  readonly drain: (deadlineMillis: number) => Effect.Effect<boolean>
  /**
   * Brings the schedule in line with the store's targets (a refresh): targets
   * not seen before are scheduled, scheduled ones whose URL, interval or rules
   * changed are updated (at their stored due time; one in flight keeps its
   * visit, and its next is scheduled with the new interval), and scheduled
   * ones absent from `targets` (removed, disabled) leave the schedule.
   */
  readonly syncTargets: (
    targets: ReadonlyArray<Target>
  ) => Effect.Effect<{ readonly added: number; readonly changed: number; readonly removed: number }>
}

/** What a refresh compares: the settings a visit uses (the rest is the schedule's own state). */
const sameSettings = (a: Target, b: Target): boolean =>
  a.url === b.url && a.host === b.host && a.intervalMillis === b.intervalMillis &&
  JSON.stringify(a.rules ?? null) === JSON.stringify(b.rules ?? null)

interface FetchJob {
  readonly target: Target
  /** When the target was due: the visit's lag is measured from it when the fetch starts. */
  readonly dueAt: number
  /** The host's start, taken by its host actor. */
  readonly reservation?: Reservation.Reservation | undefined
  /** The visit's span, when tracing: the parent of its fetch, extraction and store spans. */
  readonly visit: Tracer.Span | undefined
}

interface Fetched {
  readonly target: Target
  readonly at: number
  readonly lagMillis: number
  readonly page?: Page.Page | undefined
  readonly error?: FetchError.FetchError | undefined
  readonly visit: Tracer.Span | undefined
}

/** A body that could not be decoded (in the extractor): the fetcher's own errors for it. */
const isDecodeError = (error: { readonly _tag: string }): error is Decode.DecodeError =>
  error._tag === "DecompressionBomb" || error._tag === "BadContentEncoding" || error._tag === "BadCharset"

const errorOf = (error: FetchError.FetchError | ExtractError.ExtractError | Extractor.ExtractorUnavailable) => ({
  tag: "reason" in error && error._tag === "ExtractError" ? `ExtractError.${String(error.reason)}` : error._tag,
  message: error.message
})

/** The innermost supervisor that gave up, and what its child died of, in one line. */
export const describeGiveUp = (cause: Cause.Cause<unknown>): string => {
  let error: unknown = Cause.squash(cause)
  // a subtree that gave up made its parent give up: name the first one
  while (typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "RestartIntensityExceeded") {
    const inner = (error as { cause?: unknown }).cause
    if (!Cause.isCause(inner)) break
    const next = Cause.squash(inner)
    if ((next as { _tag?: unknown } | undefined)?._tag !== "RestartIntensityExceeded") break
    error = next
  }
  const message = error instanceof Error ? error.message : String(error)
  return message.split("\n")[0]!
}

/**
 * A stage's handler under supervision: a defect fails the stage (its
 * supervisor restarts it, logged) and the message is handled once more by the
 * new incarnation (`redeliverOnRestart`); if it dies again it is a poison
 * message, and `onPoison` turns it into an outcome (recorded as an error) so
 * that one bad page neither stops the run nor is lost. A defect on every
 * page is a loop: the restarts exceed the intensity and the run stops.
 */
const supervised = <M extends object>(
  handle: (message: M) => Effect.Effect<void>,
  onPoison: (message: M, cause: Cause.Cause<unknown>) => Effect.Effect<void>
) => {
  const diedOnce = new WeakSet<M>()
  return (message: M): Effect.Effect<void> =>
    diedOnce.has(message)
      ? Effect.catchCause(handle(message), (cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.andThen(
          Effect.logError("a message failed again after its stage restarted; recorded as a Defect", cause),
          onPoison(message, cause)
        ))
      : Effect.tapCause(handle(message), (cause) => Effect.sync(() => Cause.hasDies(cause) && diedOnce.add(message)))
}


/** A tell from inside a stage: the receiver stopped only when the run is being torn down. */
const forward = <Msg>(ref: Actor.ActorRef<Msg>, message: Msg): Effect.Effect<void> =>
  Effect.catch(Actor.tell(ref, message), () => Effect.interrupt)

/**
 * Starts the pipeline over the given targets: its subtrees (`store`,
 * `pipeline`) under `options.supervisor`, or under a root of its own in the
 * current Scope. Closing the Scope stops every actor of it.
 *
 * @since 0.1.0
 */
export const start = <E>(
  targets: ReadonlyArray<Target>,
  writer: Writer<E>,
  options?: Options
): Effect.Effect<Running<E>, never, Fetcher.Fetcher | Extractor.Extractor | Scope.Scope> =>
  Effect.gen(function*() {
    const fetcher = yield* Fetcher.Fetcher
    const extractor = yield* Extractor.Extractor
    const capacity = options?.queueCapacity ?? 1024
    // one pass: nothing is dispatched a second time
    const schedule = yield* Scheduler.make<Target>({ once: options?.once === true })
    const extractFibers = options?.extractFibers ?? 8
    const maxBatch = options?.maxBatch ?? 500
    const batchWindowMillis = options?.batchWindowMillis ?? 50
    const outageBudgetMillis = options?.outageBudgetMillis ?? 5 * 60_000
    const root = options?.supervisor ?? (yield* Effect.orDie(Supervisor.make(Supervision.policies.root)))
    // spans only when they go somewhere: the native tracer's would cost every visit for nothing
    const tracing = yield* VisitSpans.enabled
    const startedAt = yield* Clock.currentTimeMillis
    const counts = { fetched: 0, notModified: 0, extracted: 0, recorded: 0, inFlight: 0 }
    const errorsByTag: Record<string, number> = {}
    const countError = (tag: string) => {
      errorsByTag[tag] = (errorsByTag[tag] ?? 0) + 1
    }
    /** A poison message's outcome: the error names the defect's first line. */
    const defect = (cause: Cause.Cause<unknown>) => {
      countError("Defect")
      return { tag: "Defect", message: Cause.pretty(cause).split("\n")[0]! }
    }
    const done = yield* Deferred.make<void, E | StoreWriter.StoreUnavailable | StageFailed>()
    let pending = options?.once === true ? targets.length : Infinity
    if (targets.length === 0 && options?.once === true) yield* Deferred.succeed(done, undefined)
    let storeUnavailableSince: number | undefined

    for (const target of targets) {
      const dueAt = options?.once === true ? startedAt : Math.max(target.dueAt ?? startedAt, startedAt)
      yield* schedule.upsert(target, dueAt, target.failureStreak)
    }

    // ---- store: the writer ----------------------------------------------------------------
    // A batch's next due times are computed once, when it is first taken: a
    // batch handed again after a restart keeps them.
    const completed = new WeakMap<Outcome, Outcome>()
    const complete = (outcome: Outcome) =>
      Effect.gen(function*() {
        const known = completed.get(outcome)
        if (known !== undefined) return known
        const nextDueAt = yield* schedule.complete(outcome.target.id, { ok: outcome.error === undefined })
        const withNext = nextDueAt === undefined ? outcome : { ...outcome, nextDueAt }
        completed.set(outcome, withNext)
        return withNext
      })
    let failed = false
    const writeBatch = (batch: ReadonlyArray<Outcome>) =>
      Effect.gen(function*() {
        // after a failure that stops the run nothing more is written: the rest stays due in the store
        if (failed) return
        const withNext: Array<Outcome> = []
        for (const outcome of batch) withNext.push(yield* complete(outcome))
        const record = Effect.result(StoreWriter.record(writer, withNext, {
          budgetMillis: outageBudgetMillis,
          unavailableSince: (since) => {
            storeUnavailableSince = since
          }
        }))
        // traced: each visit's store span covers the batch's write, then the visits end
        const written = yield* (tracing
          ? VisitSpans.writeBatch(withNext, record, (result) => result._tag === "Failure" ? result.failure : undefined)
          : record)
        if (written._tag === "Failure") {
          failed = true
          yield* Deferred.fail(done, written.failure)
          return
        }
        counts.recorded += batch.length
        pending -= batch.length
        if (pending <= 0) yield* Deferred.succeed(done, undefined)
        else if (batch.length < maxBatch && batchWindowMillis > 0) yield* Effect.sleep(batchWindowMillis)
      })
    const storeSupervisor = yield* Effect.orDie(Supervisor.supervisor(root, Supervision.policies.store))
    const writing = yield* Effect.orDie(Supervisor.spawn(
      storeSupervisor,
      Behavior.batched({ init: Effect.void, maxBatch, receive: (_: void, batch: ReadonlyArray<Outcome>) => writeBatch(batch), redeliverOnRestart: true }),
      { name: "store-writer", capacity: Math.min(capacity, maxBatch * 2) }
    ))

    // ---- pipeline: extraction, fetch, scheduler ------------------------------------------
    const stages = yield* Effect.orDie(Supervisor.supervisor(root, Supervision.policies.pipeline))

    const extractOne = (fetched: Fetched) =>
      Effect.gen(function*() {
        const { at, lagMillis, page, target, visit } = fetched
        const base = { target, at, lagMillis, visit }
        if (page === undefined) {
          const error = errorOf(fetched.error!)
          countError(error.tag)
          return yield* forward(writing, { ...base, notModified: false, error })
        }
        const http = { status: page.status, etag: page.validators.etag, lastModified: page.validators.lastModified }
        if (page.notModified) {
          counts.notModified++
          return yield* forward(writing, { ...base, ...http, notModified: true })
        }
        // The body is as received (fetched with decodeBody: false): the extractor decodes it, in a
        // worker, so the event loop never inflates a page.
        const extract = extractor.extract({
          url: page.url,
          body: page.body,
          ownsBuffer: true,
          charset: page.charset,
          rules: target.rules,
          decode: {
            contentEncoding: page.contentEncoding,
            contentType: page.headers["content-type"],
            maxDecompressedBytes: fetcher.options.maxDecompressedBytes
          }
        })
        const extracted = yield* Effect.result(visit === undefined ? extract : VisitSpans.extract(visit, extract))
        if (extracted._tag === "Failure" && isDecodeError(extracted.failure)) {
          // What the fetch failed with when it decoded the body itself, and recorded the same way: no
          // status, and the validators of a page that could not be read are not kept.
          const error = errorOf(extracted.failure)
          countError(error.tag)
          return yield* forward(writing, { ...base, notModified: false, error })
        }
        if (http.etag !== undefined || http.lastModified !== undefined) {
          validators.set(target.id, { etag: http.etag, lastModified: http.lastModified })
        }
        if (extracted._tag === "Success") {
          counts.extracted++
          yield* forward(writing, { ...base, ...http, notModified: false, product: extracted.success })
        } else {
          const error = errorOf(extracted.failure)
          countError(error.tag)
          yield* forward(writing, { ...base, ...http, notModified: false, error })
        }
      })
    const extraction = yield* Effect.orDie(Supervisor.spawn(
      stages,
      Behavior.concurrent({
        concurrency: extractFibers,
        handle: supervised(extractOne, ({ at, lagMillis, target, visit }, cause) =>
          forward(writing, { target, at, lagMillis, visit, notModified: false, error: defect(cause) })),
        redeliverOnRestart: true
      }),
      // fetched pages hold their bodies: queue only enough to keep the extractor busy
      { name: "extraction", capacity: Math.min(capacity, Math.max(64, extractFibers * 4)) }
    ))

    // the newest validators of each target, learned from its last 200 (sent as If-None-Match / If-Modified-Since)
    const validators = new Map<number, { readonly etag?: string | undefined; readonly lastModified?: string | undefined }>()
    const fetchOne = ({ dueAt, reservation, target, visit }: FetchJob): Effect.Effect<void> =>
      Effect.gen(function*() {
        const lagMillis = Math.max(0, (yield* Clock.currentTimeMillis) - dueAt)
        yield* schedule.recordLag(lagMillis)
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
        // the body as received: decompression and charset are the extraction worker's
        const fetch = fetcher.fetchPage(request, { reservation, decodeBody: false })
        const result = yield* Effect.result(visit === undefined ? fetch : VisitSpans.fetch(visit, fetch)).pipe(
          Effect.ensuring(Effect.sync(() => counts.inFlight--))
        )
        // the host may start another now (a redelivered job has no host actor waiting on it: harmless)
        yield* hosts.finished(target.host)
        const at = yield* Clock.currentTimeMillis
        yield* forward(
          extraction,
          result._tag === "Success"
            ? (counts.fetched++, { target, at, lagMillis, visit, page: result.success })
            : { target, at, lagMillis, visit, error: result.failure }
        )
      })
    const fetching = yield* Effect.orDie(Supervisor.spawn(
      stages,
      Behavior.concurrent({
        concurrency: options?.fetchFibers ?? 256,
        handle: supervised(fetchOne, ({ dueAt, reservation, target, visit }, cause) =>
          Effect.andThen(
            reservation === undefined ? Effect.void : Reservation.release(reservation),
            Effect.flatMap(Clock.currentTimeMillis, (at) =>
              forward(writing, { target, at, lagMillis: Math.max(0, at - dueAt), visit, notModified: false, error: defect(cause) }))
          )),
        redeliverOnRestart: true
      }),
      { name: "fetch", capacity }
    ))

    // ---- host actors: politeness decided before the fetch ------------------------------------
    const hosts: Hosts.Hosts<FetchJob> = yield* Hosts.make<FetchJob, ActorError.MailboxFull | ActorError.ActorStopped>({
      reserve: fetcher.reserve,
      prepare: (job) => fetcher.prepare(job.target.url),
      start: (job, reservation) => Actor.tell(fetching, { ...job, reservation }),
      // as many hosts at once as fetch fibers: a host with a turn can start now, or has a fetch in flight
      maxActive: options?.fetchFibers ?? 256
    })

    const scheduling = yield* Effect.orDie(Supervisor.spawn(
      stages,
      Loop.behavior(schedule.run((target, dueAt) =>
        tracing
          ? Effect.flatMap(VisitSpans.startVisit(target), (visit) => hosts.due(target.host, { target, dueAt, visit }))
          : hosts.due(target.host, { target, dueAt, visit: undefined })
      )),
      Loop.mailbox("scheduler")
    ))
    yield* Actor.tell(scheduling, Loop.run).pipe(Effect.orDie)

    const gaveUp = Effect.flatMap(Supervisor.awaitTermination(root), (terminated) =>
      Exit.isFailure(terminated.exit)
        ? Effect.fail(new StageFailed({ reason: describeGiveUp(terminated.exit.cause), cause: terminated.exit.cause }))
        : Effect.never)

    return {
      counters: Effect.gen(function*() {
        return {
          fetched: counts.fetched,
          notModified: counts.notModified,
          extracted: counts.extracted,
          recorded: counts.recorded,
          errorsByTag: { ...errorsByTag },
          inFlightFetches: counts.inFlight,
          queueDepths: {
            jobs: yield* Actor.mailboxSize(fetching),
            pages: yield* Actor.mailboxSize(extraction),
            outcomes: yield* Actor.mailboxSize(writing)
          },
          queueCapacities: {
            jobs: Actor.mailboxCapacity(fetching),
            pages: Actor.mailboxCapacity(extraction),
            outcomes: Actor.mailboxCapacity(writing)
          },
          storeUnavailableSince,
          startedAt
        }
      }),
      schedule: schedule.stats,
      done: Effect.raceFirst(Deferred.await(done), gaveUp),
      syncTargets: (current) =>
        Effect.gen(function*() {
          let added = 0
          let changed = 0
          const present = new Set<number>()
          for (const target of current) {
            present.add(target.id)
            const scheduled = schedule.get(target.id)
            if (scheduled !== undefined && sameSettings(scheduled, target)) continue
            // a changed one keeps its failure streak (the backoff goes on); a new one starts from the store's
            yield* schedule.upsert(target, target.dueAt, scheduled === undefined ? target.failureStreak : undefined)
            if (scheduled === undefined) added++
            else changed++
          }
          const gone = [...schedule.ids()].filter((id) => !present.has(id))
          for (const id of gone) yield* schedule.remove(id)
          return { added, changed, removed: gone.length }
        }),
      drain: (deadlineMillis) =>
        Effect.gen(function*() {
          yield* Actor.interrupt(scheduling)
          // host actors hand out nothing more; what they hold stays due in the store
          yield* hosts.stopStarting
          // each stage finishes what it holds before the next one is asked to
          yield* Actor.stop(fetching)
          yield* Actor.stop(extraction)
          yield* Actor.stop(writing)
          return true
        }).pipe(Effect.timeoutOrElse({ duration: deadlineMillis, orElse: () => Effect.succeed(false) }))
    } satisfies Running<E>
  })
