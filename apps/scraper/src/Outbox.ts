/**
 * The outbox deliverer: one supervised actor per notifier (stdout, the JSONL
 * file, the webhook, …), each delivering the store's outbox on its own.
 *
 * The store records delivery per alert and notifier, so a webhook that
 * answers 500 for an hour delays only the webhook: stdout and the file
 * deliver each alert at once, and no channel delivers an alert twice (a
 * failed pass stops at the failing alert and resumes there). Each actor
 * backs off on its own (exponential from the delivery interval, capped at a
 * minute) and says why in the log; `trawl status` shows what each notifier
 * has pending and its last error.
 *
 * @since 0.1.0
 */
import { Actor, Supervisor } from "@trawl/actor"
import { type Model, type Store, StoreError } from "@trawl/store"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as AlertText from "./AlertText.ts"
import type * as Notifier from "./Notifier.ts"
import * as StoreWriter from "./StoreWriter.ts"
import * as Supervision from "./Supervision.ts"
import * as Loop from "./internal/loop.ts"

/**
 * Options of the deliverer.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly notifiers: ReadonlyArray<Notifier.Notifier>
  /** How often each notifier looks for new alerts. Default 1 s. */
  readonly everyMillis?: number | undefined
  /** Upper bound of a failing notifier's backoff. Default 60 s. */
  readonly maxBackoffMillis?: number | undefined
  /** The supervisor to start the `outbox` subtree under. */
  readonly supervisor: Supervisor.Supervisor
  /** How long registering the notifiers rides out a store that is unavailable. Default 5 minutes. */
  readonly outageBudgetMillis?: number | undefined
}

/**
 * A running deliverer.
 *
 * @since 0.1.0
 */
export interface Outbox {
  /** Alerts delivered in this run, per notifier name. */
  readonly delivered: Effect.Effect<Readonly<Record<string, number>>>
  /**
   * Has every notifier actor deliver what is left, all at once, until each is
   * empty or fails (for at most `deadlineMillis`), then stops them.
   */
  readonly flush: (deadlineMillis: number) => Effect.Effect<void>
}

/** Alerts claimed per pass. */
const passLimit = 100

/**
 * Registers the notifiers with the store and starts one actor per notifier
 * under an `outbox` supervisor.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Supervisor } from "@trawl/actor"
 * import { Store } from "@trawl/store"
 * import { Notifier, Outbox, Supervision } from "@trawl/scraper"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const root = yield* Supervisor.make(Supervision.policies.root)
 *   const outbox = yield* Outbox.start(store, { notifiers: [Notifier.stdout], supervisor: root })
 *   yield* outbox.flush(10_000)
 * }))
 * ```
 * @since 0.1.0
 */
export const start = (
  store: Store.Service,
  options: Options
): Effect.Effect<Outbox, StoreError.DatabaseError | StoreWriter.StoreUnavailable> =>
  Effect.gen(function*() {
    const everyMillis = options.everyMillis ?? 1000
    const maxBackoffMillis = options.maxBackoffMillis ?? 60_000
    yield* StoreWriter.ride(store.registerNotifiers(options.notifiers.map((notifier) => notifier.name)), {
      isTransient: StoreError.isTransient,
      budgetMillis: options.outageBudgetMillis ?? 5 * 60_000,
      what: "the notifiers' registration"
    })
    const delivered: Record<string, number> = {}
    const supervisor = yield* Effect.orDie(Supervisor.supervisor(options.supervisor, Supervision.policies.outbox))

    // A receiver that refuses an alert for good (a 4xx other than 408/429) would block its
    // channel for ever if the alert stayed at the head of the line: it is logged and settled.
    const notify = (notifier: Notifier.Notifier) => (alert: Model.Alert) =>
      Effect.catch(notifier.deliver(AlertText.notification(alert)), (error) =>
        error.retryable
          ? Effect.fail(error)
          : Effect.logError(`${notifier.name} refused alert ${alert.key} for good; not retried: ${error.reason}`))

    /** One pass for one notifier: how many it delivered, and whether it must back off. */
    const pass = (notifier: Notifier.Notifier) =>
      store.deliver(notifier.name, notify(notifier), { limit: passLimit }).pipe(
        Effect.map((result) => {
          delivered[notifier.name] = (delivered[notifier.name] ?? 0) + result.delivered
          return { more: result.failed === 0 && result.delivered >= passLimit, failed: result.failed > 0 ? result.lastError ?? "failed" : undefined }
        }),
        Effect.catch((error) => Effect.succeed({ more: false, failed: `store: ${error.message}` })),
        // a pass a second per notifier, most of them finding nothing: no trace of their own in a collector
        Effect.withTracerEnabled(false)
      )

    const drain = (notifier: Notifier.Notifier) =>
      Effect.gen(function*() {
        // bounded: a million alerts
        for (let i = 0; i < 10_000; i++) {
          const result = yield* pass(notifier)
          if (!result.more) return
        }
      })

    // Flushing is asked of the actors, not done over them: an actor interrupted in the middle
    // of a pass would leave the alerts it claimed leased (for a minute) to nobody.
    const flushing = Deferred.makeUnsafe<void>()
    const pause = (millis: number) => Effect.raceFirst(Effect.sleep(millis), Deferred.await(flushing))

    const deliverer = (notifier: Notifier.Notifier, drained: Deferred.Deferred<void>) => {
      let backoff = everyMillis
      let failingSince: number | undefined
      return Loop.behavior(Effect.gen(function*() {
        if (Deferred.isDoneUnsafe(flushing)) {
          yield* drain(notifier)
          yield* Deferred.succeed(drained, undefined)
          return yield* Effect.never
        }
        const result = yield* pass(notifier)
        const now = yield* Clock.currentTimeMillis
        if (result.failed !== undefined) {
          failingSince ??= now
          yield* Effect.logWarning(`${notifier.name}: delivery failed, retrying in ${(backoff / 1000).toFixed(1)} s: ${result.failed}`)
          yield* pause(backoff)
          backoff = Math.min(backoff * 2, maxBackoffMillis)
          return
        }
        if (failingSince !== undefined) {
          yield* Effect.logInfo(`${notifier.name}: delivering again after ${((now - failingSince) / 1000).toFixed(0)} s`)
          failingSince = undefined
        }
        backoff = everyMillis
        if (!result.more) yield* pause(everyMillis)
      }))
    }

    const actors: Array<Actor.ActorRef<Loop.Run>> = []
    const drained: Array<Deferred.Deferred<void>> = []
    for (const notifier of options.notifiers) {
      const done = Deferred.makeUnsafe<void>()
      const ref = yield* Effect.orDie(Supervisor.spawn(supervisor, deliverer(notifier, done), Loop.mailbox(`notifier ${notifier.name}`)))
      yield* Effect.orDie(Actor.tell(ref, Loop.run))
      actors.push(ref)
      drained.push(done)
    }

    return {
      delivered: Effect.sync(() => ({ ...delivered })),
      flush: (deadlineMillis) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(flushing, undefined)
          // a notifier whose actor is gone (its subtree gave up, the run is aborting) is flushed from here
          const flushed = (index: number) =>
            Effect.flatMap(Actor.isAlive(actors[index]!), (alive) =>
              alive ? Deferred.await(drained[index]!) : drain(options.notifiers[index]!))
          yield* Effect.forEach(actors.keys(), flushed, { concurrency: "unbounded", discard: true }).pipe(
            Effect.timeoutOrElse({
              duration: deadlineMillis,
              orElse: () => Effect.logWarning(`outbox not flushed within ${deadlineMillis} ms; the rest stays in the store for the next run`)
            })
          )
          yield* Effect.forEach(actors, Actor.interrupt, { discard: true })
        })
    } satisfies Outbox
  })
