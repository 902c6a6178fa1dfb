/**
 * `trawl run`: continuous monitoring (or one pass with `once`) over the
 * targets in the store, with alerts delivered from the outbox.
 *
 * Lifecycle: the first SIGINT/SIGTERM stops scheduling and drains what is in
 * flight (up to `drainMillis`), flushes the outbox, records the run and exits
 * 0; a second signal stops at once. After a crash, `run` on the same
 * database resumes where it was: next due times, validators and unsent alerts
 * are all in the store.
 *
 * @since 0.1.0
 */
import type { Fetcher } from "@trawl/fetch"
import { Store, type StoreError } from "@trawl/store"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import type * as Scope from "effect/Scope"
import * as AlertText from "./AlertText.ts"
import * as Dashboard from "./Dashboard.ts"
import type { InputError } from "./Errors.ts"
import * as Extractor from "./Extractor.ts"
import type * as Notifier from "./Notifier.ts"
import * as Pipeline from "./Pipeline.ts"
import * as Progress from "./Progress.ts"
import * as StoreAdapter from "./StoreAdapter.ts"

/**
 * Options of a run.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly once: boolean
  /** With `once`: visit every enabled target, due or not. */
  readonly all?: boolean | undefined
  readonly notifiers: ReadonlyArray<Notifier.Notifier>
  readonly fetchFibers: number
  /** Pages handed to the extractor at once. Default 16. */
  readonly extractFibers?: number | undefined
  /** Redraw a status line (TTY) instead of logging every few seconds. */
  readonly tty: boolean
  /** Serve the dashboard on this port (0 = any free port). */
  readonly dashboardPort?: number | undefined
  /** Graceful-stop deadline. Default 30 s. */
  readonly drainMillis?: number | undefined
  /** How often the outbox is flushed. Default 1 s. */
  readonly deliverEveryMillis?: number | undefined
  /** Where the summary table goes. Default stdout. */
  readonly print?: ((text: string) => void) | undefined
  /** Stop after this long (0 = no limit), like a signal. */
  readonly durationMillis?: number | undefined
  /** Listen for SIGINT/SIGTERM. Default true. */
  readonly handleSignals?: boolean | undefined
  /** How often a continuous run looks for targets added meanwhile (e.g. by `trawl add`). Default 30 s. */
  readonly refreshEveryMillis?: number | undefined
}

/**
 * What a run did.
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly snapshot: Progress.Snapshot
  readonly alertsDelivered: number
  readonly drained: boolean
  readonly stoppedBy: "done" | "signal" | "duration"
}

/**
 * Runs the monitor until done (`once`), a signal, or the duration.
 *
 * @since 0.1.0
 */
export const run = (options: Options): Effect.Effect<
  Summary,
  StoreError.DatabaseError | StoreError.TargetNotFound | InputError,
  Store.Store | Extractor.Extractor | Fetcher.Fetcher | Scope.Scope
> =>
  Effect.gen(function*() {
    // signals are handled from the start: a stop before the first fetch is a stop too
    const stop = yield* Deferred.make<"signal" | "duration">()
    if (options.handleSignals !== false) yield* onSignals(() => Deferred.doneUnsafe(stop, Effect.succeed("signal")))
    const store = yield* Store.Store
    const extractor = yield* Extractor.Extractor
    const print = options.print ?? ((text: string) => void process.stdout.write(text + "\n"))
    const now = yield* Clock.currentTimeMillis
    const stored = yield* StoreAdapter.allTargets(store)
    const due = options.once && options.all !== true ? stored.filter((t) => t.nextDueAt <= now) : stored
    const runRecord = yield* store.startRun()
    let failures = 0
    const writer = StoreAdapter.writer(store, (_results, batch) => {
      for (const outcome of batch) {
        if (outcome.error !== undefined) failures++
      }
    })
    const running = yield* Pipeline.start(
      due.map(StoreAdapter.toPipelineTarget),
      writer,
      { once: options.once, fetchFibers: options.fetchFibers, extractFibers: options.extractFibers ?? 16 }
    )
    if (!options.once) {
      const refresh = Effect.flatMap(StoreAdapter.allTargets(store), (targets) =>
        Effect.flatMap(running.addTargets(targets.map(StoreAdapter.toPipelineTarget)), (added) =>
          added > 0 ? Effect.logInfo(`scheduled ${added} new target(s)`) : Effect.void))
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(options.refreshEveryMillis ?? 30_000), Effect.ignore(refresh))))
    }
    const snapshot = Progress.snapshotOf(running, extractor.utilization)

    let delivered = 0
    // The outbox row names the product itself: an alert left by a crashed
    // process reads the same here as it would have there.
    const notifyAll = (alert: AlertText.AlertLike) =>
      Effect.forEach(options.notifiers, (notifier) => notifier.deliver(AlertText.notification(alert)), { discard: true })
    // one delivery pass at a time: two passes could hand the same alert out twice
    const delivering = yield* Semaphore.make(1)
    const deliverBatch = Semaphore.withPermit(delivering, Effect.map(store.deliver(notifyAll, { limit: 1000 }), (result) => {
      delivered += result.delivered
      return result
    }))
    /** Delivers until the outbox is empty or a notifier fails (bounded: a million alerts). */
    const flush = Effect.gen(function*() {
      for (let pass = 0; pass < 1000; pass++) {
        const result = yield* deliverBatch
        if (result.failed > 0 || result.delivered < 1000) return
      }
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(options.deliverEveryMillis ?? 1000), Effect.ignore(flush))))
    yield* Effect.forkScoped(Progress.report(snapshot, { tty: options.tty }))
    if (options.dashboardPort !== undefined) {
      const port = yield* Dashboard.serve(snapshot, options.dashboardPort)
      yield* Effect.logInfo(`dashboard on http://127.0.0.1:${port}/`)
    }

    if (options.durationMillis !== undefined && options.durationMillis > 0) {
      yield* Effect.forkScoped(Effect.andThen(Effect.sleep(options.durationMillis), Deferred.succeed(stop, "duration")))
    }

    const stoppedBy = yield* Effect.raceFirst(
      Effect.as(running.done, "done" as const),
      Deferred.await(stop)
    )
    const drained = stoppedBy === "done" ? true : yield* running.drain(options.drainMillis ?? 30_000)
    yield* flush
    const final = yield* snapshot
    yield* store.finishRun(runRecord.id, {
      status: drained ? "finished" : "aborted",
      observations: final.counters.recorded,
      failures
    })
    print(Progress.summaryTable(final, [["alerts delivered", delivered], ["stopped by", stoppedBy]]))
    return { snapshot: final, alertsDelivered: delivered, drained, stoppedBy } satisfies Summary
  })

/**
 * First SIGINT/SIGTERM: `onFirst` (graceful stop); second: exit at once.
 * The listeners are removed when the Scope closes.
 */
const onSignals = (onFirst: () => void): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let received = 0
      const handler = (signal: NodeJS.Signals) => {
        received++
        if (received === 1) {
          process.stderr.write(`\ntrawl: ${signal}: stopping after the pages in flight (again to stop now)\n`)
          onFirst()
        } else {
          process.stderr.write(`\ntrawl: ${signal}: stopping now\n`)
          process.exit(130)
        }
      }
      process.on("SIGINT", handler)
      process.on("SIGTERM", handler)
      return handler
    }),
    (handler) =>
      Effect.sync(() => {
        process.off("SIGINT", handler)
        process.off("SIGTERM", handler)
      })
  ).pipe(Effect.asVoid)
