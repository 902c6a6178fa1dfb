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
import * as Random from "effect/Random"
import type * as Pipeline from "./Pipeline.ts"

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
 * Options of `record`.
 *
 * @since 0.2.0
 */
export interface Options {
  /** How long an outage may last before the batch fails with `StoreUnavailable`. */
  readonly budgetMillis: number
  /** Told when an outage begins (its start) and ends (undefined), for the status line. */
  readonly unavailableSince: (since: number | undefined) => void
}

const firstDelayMillis = 100
const maxDelayMillis = 5_000
const warnEveryMillis = 10_000

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String((error as { message: unknown }).message) : String(error)

/**
 * Writes one batch through `writer`, riding out transient failures within the
 * budget.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { type Pipeline, StoreWriter } from "@trawl/scraper"
 *
 * declare const writer: Pipeline.Writer<Error>
 * declare const batch: ReadonlyArray<Pipeline.Outcome>
 * const program = StoreWriter.record(writer, batch, { budgetMillis: 300_000, unavailableSince: () => {} })
 * ```
 * @since 0.2.0
 */
export const record = <E>(
  writer: Pipeline.Writer<E>,
  batch: ReadonlyArray<Pipeline.Outcome>,
  options: Options
): Effect.Effect<void, E | StoreUnavailable> =>
  Effect.gen(function*() {
    const isTransient = writer.isTransient ?? (() => false)
    let delay = firstDelayMillis
    let since: number | undefined
    let warnedAt = 0
    while (true) {
      const result = yield* Effect.result(writer.record(batch))
      const now = yield* Clock.currentTimeMillis
      if (result._tag === "Success") {
        if (since !== undefined) {
          options.unavailableSince(undefined)
          yield* Effect.logInfo(`store available again after ${((now - since) / 1000).toFixed(1)} s; ${batch.length} held outcome(s) written`)
        }
        return
      }
      const error = result.failure
      if (!isTransient(error)) return yield* Effect.fail(error)
      if (since === undefined) {
        since = now
        options.unavailableSince(since)
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
