/**
 * The batching writer: callers hand it one observation at a time; one fiber
 * takes whatever is waiting (up to `maxBatch`) and records it in a single
 * transaction. The buffer between them is bounded, so when the database falls
 * behind, `record` waits (backpressure) instead of memory growing.
 *
 * `record` completes once the observation's transaction has committed: an
 * acknowledged observation is durable. When a batch fails, its observations
 * are retried one by one so each caller gets its own outcome (one unknown
 * target does not fail its neighbours).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Cause from "effect/Cause"
import type * as Model from "./Model.ts"
import * as Store from "./Store.ts"
import * as StoreError from "./StoreError.ts"

/**
 * Options of the writer.
 *
 * @example
 * ```ts
 * import { Writer } from "@trawl/store"
 *
 * const options: Writer.WriterOptions = { capacity: 5000, maxBatch: 1000 }
 * ```
 *
 * @since 0.1.0
 */
export interface WriterOptions {
  /** Observations waiting to be written before `record` blocks. Default 10,000. */
  readonly capacity?: number | undefined
  /** Observations per transaction at most. Default 1000. */
  readonly maxBatch?: number | undefined
  /** How long closing waits for the buffer to drain. Default 30 seconds. */
  readonly drainTimeout?: Duration.Input | undefined
}

/**
 * The writer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model, Writer } from "@trawl/store"
 *
 * const save = (writer: Writer.Writer, input: Model.ObservationInput) =>
 *   Effect.map(writer.record(input), (result) => result.alerts)
 * ```
 *
 * @since 0.1.0
 */
export interface Writer {
  /** Queues one observation (waiting while the buffer is full) and waits for its commit. */
  readonly record: (
    input: Model.ObservationInput
  ) => Effect.Effect<Model.RecordResult, StoreError.TargetNotFound | StoreError.DatabaseError>
  /** Observations buffered and not yet taken by a transaction. */
  readonly buffered: Effect.Effect<number>
}

type Outcome = Exit.Exit<Model.RecordResult, StoreError.TargetNotFound | StoreError.DatabaseError>

interface Item {
  readonly input: Model.ObservationInput
  readonly done: Deferred.Deferred<Model.RecordResult, StoreError.TargetNotFound | StoreError.DatabaseError>
}

const stopped = new StoreError.StorageFailure({ operation: "record", detail: "the store writer has stopped" })

/**
 * Starts a writer over the `Store` in context; it drains and stops when the
 * scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model, Writer } from "@trawl/store"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const writer = yield* Writer.make({ maxBatch: 500 })
 *   yield* writer.record(new Model.ObservationInput({ targetId: 1, observedAt: Date.now(), outcome: "unchanged" }))
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  options: WriterOptions = {}
): Effect.Effect<Writer, never, Store.Store | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Store.Store
    const capacity = Math.max(1, options.capacity ?? 10_000)
    const maxBatch = Math.max(1, options.maxBatch ?? 1000)
    const queue = yield* Queue.bounded<Item, Cause.Done>(capacity)

    const settle = (item: Item, outcome: Outcome) => Deferred.done(item.done, outcome)

    const writeBatch = (items: ReadonlyArray<Item>) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(store.recordObservations(items.map((item) => item.input)))
        if (Exit.isSuccess(exit)) {
          for (let i = 0; i < items.length; i++) yield* settle(items[i]!, Exit.succeed(exit.value[i]!))
          return
        }
        if (items.length === 1) {
          yield* settle(items[0]!, Exit.failCause(exit.cause))
          return
        }
        yield* Effect.logDebug("store batch failed; recording its observations one by one").pipe(
          Effect.annotateLogs({ size: items.length })
        )
        for (const item of items) {
          const one = yield* Effect.exit(store.recordObservations([item.input]))
          yield* settle(item, Exit.map(one, (results) => results[0]!))
        }
      }).pipe(
        // Interrupted mid-batch (the scope closed without draining): the
        // transaction rolled back, so these callers must hear it failed.
        Effect.onInterrupt(() => Effect.forEach(items, (item) => Deferred.fail(item.done, stopped), { discard: true }))
      )

    const loop = Effect.gen(function*() {
      while (true) {
        const items = yield* Queue.takeBetween(queue, 1, maxBatch)
        yield* writeBatch(items)
      }
    }).pipe(Effect.catch(() => Effect.void))

    const fiber = yield* Effect.forkDetach(loop)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Queue.end(queue)
        const drained = yield* Fiber.join(fiber).pipe(
          Effect.as(true),
          Effect.timeoutOrElse({
            duration: options.drainTimeout ?? Duration.seconds(30),
            orElse: () => Effect.as(Fiber.interrupt(fiber), false)
          })
        )
        if (!drained) yield* Effect.logWarning("store writer did not drain in time; pending observations failed")
        const left = yield* Queue.clear(queue)
        yield* Effect.forEach(left, (item) => Deferred.fail(item.done, stopped), { discard: true })
      })
    )

    const record = (input: Model.ObservationInput) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Model.RecordResult, StoreError.TargetNotFound | StoreError.DatabaseError>()
        const accepted = yield* Queue.offer(queue, { input, done })
        if (!accepted) return yield* stopped
        return yield* Deferred.await(done)
      })

    return { record, buffered: Queue.size(queue) }
  })
