/**
 * Riding out a store outage: how the store writer writes one batch.
 *
 * Errors that a later attempt may not meet (`Writer.isTransient`: SQLite busy
 * or locked by another process, a lost Postgres connection, a server
 * restarting) are retried with capped, jittered exponential backoff — from
 * 100 ms, doubling, at most 5 s apart — for up to the outage budget, holding
 * the batch; past its first second, a warning names the outage every 10 s. When the store is back,
 * the batch is written once (each attempt is one transaction: a failed one
 * wrote nothing). Past the budget the batch fails with `StoreUnavailable`;
 * an error retrying cannot fix fails at once.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"

/**
 * The store port the writer writes through: one transaction per batch.
 * `isTransient` tells the errors that a later attempt may not meet (a lock,
 * a lost connection): those are retried within the outage budget; any other
 * error fails at once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { StoreWriter } from "@trawl/scraper"
 *
 * const port: StoreWriter.Port<string, never> = { record: (batch) => Effect.log(`${batch.length} rows`) }
 * ```
 * @since 0.2.0
 */
export interface Port<A, E> {
  readonly record: (batch: ReadonlyArray<A>) => Effect.Effect<void, E>
  readonly isTransient?: ((error: E) => boolean) | undefined
}

/**
 * The store stayed unavailable for longer than the outage budget.
 *
 * @example
 * ```ts
 * import { StoreWriter } from "@trawl/scraper"
 *
 * new StoreWriter.StoreUnavailable({ millis: 300_000, error: new Error("database is locked") }).message
 * // "store unavailable for 300 s, past the outage budget: database is locked"
 * ```
 * @since 0.2.0
 */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly millis: number
  readonly error: unknown
}> {
  override get message(): string {
    const detail = typeof this.error === "object" && this.error !== null && "message" in this.error
      ? String((this.error as { message: unknown }).message)
      : String(this.error)
    return `store unavailable for ${Math.round(this.millis / 1000)} s, past the outage budget: ${detail}`
  }
}

/**
 * Options of `ride`.
 *
 * @since 0.2.0
 */
export interface Options<E> {
  /** Errors a later attempt may not meet. */
  readonly isTransient: (error: E) => boolean
  /** How long an outage may last before the attempt fails with `StoreUnavailable`. */
  readonly budgetMillis: number
  /** Told when an outage begins (its start) and ends (undefined), for the status line. */
  readonly unavailableSince?: ((since: number | undefined) => void) | undefined
  /** What is being written, for the log ("3 held outcome(s)", "the run record"). */
  readonly what: string
}

const firstDelayMillis = 100
const maxDelayMillis = 5_000
const warnEveryMillis = 10_000

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String((error as { message: unknown }).message) : String(error)

/**
 * Runs a store operation, riding out transient failures within the budget:
 * each retry is a new attempt of the whole operation (one transaction: a
 * failed attempt wrote nothing).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store, StoreError } from "@trawl/store"
 * import { StoreWriter } from "@trawl/scraper"
 *
 * const program = Effect.flatMap(Store.Store, (store) =>
 *   StoreWriter.ride(store.startRun(), { isTransient: StoreError.isTransient, budgetMillis: 300_000, what: "the run record" }))
 * ```
 * @since 0.2.0
 */
export const ride = <A, E, R>(attempt: Effect.Effect<A, E, R>, options: Options<E>): Effect.Effect<A, E | StoreUnavailable, R> =>
  Effect.gen(function*() {
    let delay = firstDelayMillis
    let since: number | undefined
    let warnedAt = 0
    while (true) {
      const result = yield* Effect.result(attempt)
      const now = yield* Clock.currentTimeMillis
      if (result._tag === "Success") {
        if (since !== undefined) {
          options.unavailableSince?.(undefined)
          yield* Effect.logInfo(`store available again after ${((now - since) / 1000).toFixed(1)} s; ${options.what} written`)
        }
        return result.success
      }
      const error = result.failure
      if (!options.isTransient(error)) return yield* Effect.fail(error)
      if (since === undefined) {
        since = now
        options.unavailableSince?.(since)
      }
      const out = now - since
      if (out >= options.budgetMillis) return yield* Effect.fail(new StoreUnavailable({ millis: out, error }))
      // a lock held for a moment by another process is not worth a warning; an outage is
      if (out >= 1_000 && now - warnedAt >= warnEveryMillis) {
        warnedAt = now
        yield* Effect.logWarning(`store unavailable, retrying (${(out / 1000).toFixed(0)} s so far): ${messageOf(error)}`)
      }
      const jitter = yield* Random.nextBetween(0.8, 1.2)
      yield* Effect.sleep(Math.max(1, Math.min(delay * jitter, options.budgetMillis - out)))
      delay = Math.min(delay * 2, maxDelayMillis)
    }
  })

/**
 * Writes one batch through `writer`, riding out transient failures within the
 * budget (`ride`).
 *
 * @example
 * ```ts
 * import { type Pipeline, StoreWriter } from "@trawl/scraper"
 *
 * declare const writer: Pipeline.Writer<Error>
 * declare const batch: ReadonlyArray<Pipeline.Outcome>
 * const program = StoreWriter.record(writer, batch, { budgetMillis: 300_000, unavailableSince: () => {} })
 * ```
 * @since 0.2.0
 */
export const record = <A, E>(
  writer: Port<A, E>,
  batch: ReadonlyArray<A>,
  options: Omit<Options<E>, "isTransient" | "what">
): Effect.Effect<void, E | StoreUnavailable> =>
  ride(writer.record(batch), {
    ...options,
    isTransient: writer.isTransient ?? (() => false),
    what: `${batch.length} held outcome(s)`
  })

/**
 * A store's Layer whose opening rides out a busy or restarting store (`ride`):
 * each attempt builds the layer in a scope of its own, closed when the
 * attempt fails, so a failed open keeps nothing.
 *
 * @example
 * ```ts
 * import { Store, StoreError } from "@trawl/store"
 * import { StoreWriter } from "@trawl/scraper"
 *
 * const layer = StoreWriter.opening(Store.layerSqlite({ filename: "./trawl.db" }), {
 *   isTransient: StoreError.isTransient,
 *   budgetMillis: 300_000,
 *   what: "the store"
 * })
 * ```
 * @since 0.2.0
 */
export const opening = <A, E, R>(layer: Layer.Layer<A, E, R>, options: Options<E>): Layer.Layer<A, E | StoreUnavailable, R> =>
  Layer.effectContext(Effect.gen(function*() {
    const outer = yield* Effect.scope
    return yield* ride(
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const built = yield* Effect.exit(Layer.buildWithScope(layer, scope))
        if (Exit.isFailure(built)) {
          yield* Scope.close(scope, built)
          return yield* Effect.failCause(built.cause)
        }
        yield* Scope.addFinalizerExit(outer, (exit) => Scope.close(scope, exit))
        return built.value
      }),
      options
    )
  }))
