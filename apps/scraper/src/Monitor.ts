/**
 * `trawl run`: continuous monitoring (or one pass with `once`) over the
 * targets in the store, with alerts delivered from the outbox — the
 * supervision tree of `Supervision`, started and stopped.
 *
 * Lifecycle: the first SIGINT/SIGTERM stops scheduling and drains what is in
 * flight (up to `drainMillis`), flushes the outbox, records the run and exits
 * 0; a second signal stops at once. When a part of the tree gives up (its
 * restart intensity exceeded), or the store stays away past the outage
 * budget, or fails in a way retrying cannot fix, the run stops the same way
 * but is recorded "aborted" and fails with the cause (one line, an exit code:
 * `Errors`). After a crash, `run` on the same database resumes where it was:
 * next due times, validators and unsent alerts are all in the store.
 *
 * @since 0.1.0
 */
import { Actor, Supervisor } from "@trawl/actor"
import { Fetcher } from "@trawl/fetch"
import { Store, StoreError } from "@trawl/store"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Dashboard from "./Dashboard.ts"
import type { InputError } from "./Errors.ts"
import * as Extractor from "./Extractor.ts"
import type * as Notifier from "./Notifier.ts"
import * as Outbox from "./Outbox.ts"
import * as Pipeline from "./Pipeline.ts"
import * as Progress from "./Progress.ts"
import * as StoreAdapter from "./StoreAdapter.ts"
import * as StoreWriter from "./StoreWriter.ts"
import * as Supervision from "./Supervision.ts"
import * as Loop from "./internal/loop.ts"

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
  /** The dashboard's address (default 127.0.0.1; another needs `dashboardToken`). */
  readonly dashboardHost?: string | undefined
  /** The Bearer token every dashboard request must carry. */
  readonly dashboardToken?: string | undefined
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
  /** How often a continuous run looks for targets added, removed or disabled meanwhile (e.g. by `trawl add`). Default 30 s. */
  readonly refreshEveryMillis?: number | undefined
  /** How long the store may stay unavailable (retried with backoff) before the run stops. Default 5 minutes. */
  readonly outageBudgetMillis?: number | undefined
}

/**
 * What a run did.
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly snapshot: Progress.Snapshot
  /** Deliveries in this run, summed over the notifiers. */
  readonly alertsDelivered: number
  readonly drained: boolean
  readonly stoppedBy: "done" | "signal" | "duration"
}

/**
 * Runs the monitor until done (`once`), a signal, or the duration; fails with
 * the cause when the run had to stop (see the module's lifecycle).
 *
 * @since 0.1.0
 */
export const run = (options: Options): Effect.Effect<
  Summary,
  | StoreError.DatabaseError
  | StoreError.TargetNotFound
  | InputError
  | StoreWriter.StoreUnavailable
  | Pipeline.StageFailed,
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
    // another process holding the database for a moment at start is ridden out like an outage
    const outageBudgetMillis = options.outageBudgetMillis ?? 5 * 60_000
    const riding = <A, E extends StoreError.StoreError>(attempt: Effect.Effect<A, E>, what: string) =>
      StoreWriter.ride(attempt, { isTransient: StoreError.isTransient, budgetMillis: outageBudgetMillis, what })
    // read before the targets: a change made while they are read moves it past this, and the
    // first refresh reads them again
    let seenRevision = yield* riding(store.targetsRevision, "the targets' revision")
    const stored = yield* riding(StoreAdapter.allTargets(store), "the targets read")
    const due = options.once && options.all !== true ? stored.filter((t) => t.nextDueAt <= now) : stored
    const runRecord = yield* riding(store.startRun(), "the run record")
    let failures = 0
    const writer: Pipeline.Writer<StoreError.TargetNotFound | StoreError.DatabaseError> = {
      ...StoreAdapter.writer(store, (_results, batch) => {
        for (const outcome of batch) {
          if (outcome.error !== undefined) failures++
        }
      }),
      isTransient: StoreError.isTransient
    }

    // the tree (Supervision): store and pipeline, outbox, services
    const root = yield* Effect.orDie(Supervisor.make(Supervision.policies.root))
    const running = yield* Pipeline.start(due.map(StoreAdapter.toPipelineTarget), writer, {
      once: options.once,
      fetchFibers: options.fetchFibers,
      extractFibers: options.extractFibers ?? 16,
      supervisor: root,
      outageBudgetMillis
    })
    const outbox = yield* Outbox.start(store, {
      notifiers: options.notifiers,
      supervisor: root,
      outageBudgetMillis,
      ...(options.deliverEveryMillis === undefined ? {} : { everyMillis: options.deliverEveryMillis })
    })
    const services = yield* Effect.orDie(Supervisor.supervisor(root, Supervision.policies.services))
    const fetcher = yield* Fetcher.Fetcher
    const snapshot = Progress.snapshotOf(running, {
      workerUtilization: extractor.utilization,
      workerCrashes: extractor.crashes,
      hostStates: fetcher.hostStates
    })
    if (!options.once) {
      // every target is read again only when the store's targets revision moved (one added,
      // removed, changed or disabled, by any process): otherwise a refresh is one row
      const refresh = Effect.gen(function*() {
        const revision = yield* store.targetsRevision
        if (revision === seenRevision) return
        const targets = yield* StoreAdapter.allTargets(store)
        const { added, changed, removed } = yield* running.syncTargets(targets.map(StoreAdapter.toPipelineTarget))
        seenRevision = revision
        if (added + changed + removed > 0) {
          yield* Effect.logInfo(`targets refreshed: ${added} scheduled, ${changed} changed, ${removed} left the schedule`)
        }
      }).pipe(
        // a store that is away now is retried at the next refresh (a defect restarts the refresher)
        Effect.catch((error) => Effect.logWarning(`refreshing the targets failed; retrying at the next refresh: ${error.message}`)),
        // one small read every 30 s: no trace of its own in a collector
        Effect.withTracerEnabled(false)
      )
      yield* startLoop(services, "refresher", Loop.every(options.refreshEveryMillis ?? 30_000, refresh))
    }
    yield* startLoop(services, "progress", Loop.behavior(Progress.report(snapshot, { tty: options.tty })))
    if (options.dashboardPort !== undefined) {
      const { url } = yield* Dashboard.serve(snapshot, {
        port: options.dashboardPort,
        host: options.dashboardHost,
        token: options.dashboardToken,
        store
      })
      yield* Effect.logInfo(`dashboard on ${url}`)
    }

    const stopped = options.durationMillis !== undefined && options.durationMillis > 0
      ? Effect.raceFirst(Deferred.await(stop), Effect.as(Effect.sleep(options.durationMillis), "duration" as const))
      : Deferred.await(stop)
    const ended = yield* Effect.result(Effect.raceFirst(Effect.as(running.done, "done" as const), stopped))
    const stoppedBy = ended._tag === "Success" ? ended.success : "done"
    if (ended._tag === "Failure") yield* Effect.logError(`trawl is stopping: ${ended.failure.message}`)
    const drained = stoppedBy === "done" && ended._tag === "Success" ? true : yield* running.drain(options.drainMillis ?? 30_000)
    yield* outbox.flush(options.drainMillis ?? 30_000)
    const final = yield* snapshot
    const aborted = ended._tag === "Failure" || !drained
    // a run stopped by an outage records how it ended once the store is back, for up to the drain deadline
    yield* StoreWriter.ride(
      store.finishRun(runRecord.id, { status: aborted ? "aborted" : "finished", observations: final.counters.recorded, failures }),
      { isTransient: StoreError.isTransient, budgetMillis: options.drainMillis ?? 30_000, what: "the run record" }
    ).pipe(Effect.catch((error) => Effect.logWarning(`the run record could not be updated: ${error.message}`)))
    const deliveredBy = yield* outbox.delivered
    const alertsDelivered = Object.values(deliveredBy).reduce((sum, n) => sum + n, 0)
    print(Progress.summaryTable(final, [
      ...options.notifiers.map((notifier) => [`alerts delivered (${notifier.name})`, deliveredBy[notifier.name] ?? 0] as const),
      ["stopped by", ended._tag === "Failure" ? ended.failure._tag : stoppedBy]
    ]))
    if (ended._tag === "Failure") return yield* Effect.fail(ended.failure)
    return { snapshot: final, alertsDelivered, drained, stoppedBy } satisfies Summary
  })

/** Spawns a loop actor under `supervisor` and starts it. */
const startLoop = <E, R>(supervisor: Supervisor.Supervisor, name: string, behavior: Loop.Behavior<E, R>) =>
  Effect.flatMap(Effect.orDie(Supervisor.spawn(supervisor, behavior, Loop.mailbox(name))), (ref) => Effect.orDie(Actor.tell(ref, Loop.run)))

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
