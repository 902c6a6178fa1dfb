/**
 * The pipeline's spans (`Telemetry`): a visit's span is made when the
 * scheduler dispatches the target, travels in the stages' messages, is the
 * explicit parent of the fetch, extraction and store spans, and is ended by
 * the store writer once the visit's outcome is written. All of it only under
 * an exporting tracer: with effect's native one the pipeline makes no span.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"

/** The names of a run's spans (`Telemetry.spanNames`). */
export const spanNames = {
  visit: "trawl.visit",
  fetch: "trawl.fetch",
  extract: "trawl.extract",
  store: "trawl.store",
  storeWrite: "trawl.store.write"
} as const

/** Whether the current tracer exports spans: anything but effect's native tracer. */
export const enabled: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== Tracer.nativeTracer)

/** A visit's span, the root of its own trace. */
export const startVisit = (target: { readonly id: number; readonly url: string; readonly host: string }): Effect.Effect<Tracer.Span> =>
  Effect.makeSpan(spanNames.visit, {
    root: true,
    attributes: { "trawl.target.id": target.id, "url.full": target.url, "server.address": target.host }
  })

/** `f` inside a child span of `visit`, which it may annotate. */
const child = <A, E, R>(
  name: string,
  visit: Tracer.Span,
  f: (span: Tracer.Span) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.useSpan(name, { parent: visit }, (span) => Effect.withParentSpan(f(span), span, { captureStackTrace: false }))

/** A visit's fetch, in its `trawl.fetch` span (with the response's status). */
export const fetch = <A extends { readonly status: number }, E, R>(visit: Tracer.Span, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  child(spanNames.fetch, visit, (span) =>
    Effect.tap(self, (page) =>
      Effect.sync(() => {
        span.attribute("http.response.status_code", page.status)
      })))

/** A visit's extraction, in its `trawl.extract` span (with the source that gave the price). */
export const extract = <A extends { readonly source?: string | undefined }, E, R>(
  visit: Tracer.Span,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  child(spanNames.extract, visit, (span) =>
    Effect.tap(self, (product) =>
      Effect.sync(() => {
        if (product.source !== undefined) span.attribute("trawl.extract.source", product.source)
      })))

/** What a visit ended with, as span attributes and status. */
export interface Ending {
  readonly notModified: boolean
  readonly status?: number | undefined
  readonly error?: { readonly tag: string; readonly message: string } | undefined
}

/** The exit a span ends with for a visit that failed with `error` (status error, the tag as the exception's type). */
const failed = (error: { readonly tag: string; readonly message: string }) => Exit.fail({ name: error.tag, message: error.message })

/** A typed error's tag and message. */
const describe = (error: unknown) => {
  const { _tag, message } = typeof error === "object" && error !== null ? error as { _tag?: unknown; message?: unknown } : {}
  return { tag: typeof _tag === "string" ? _tag : "Error", message: typeof message === "string" ? message : String(error) }
}

/** Ends a visit's span with its outcome; `exit` overrides its status (the write of its outcome failed). */
export const endVisit = (visit: Tracer.Span, ending: Ending, exit?: Exit.Exit<unknown, unknown>) =>
  Effect.map(Clock.currentTimeNanos, (now) => {
    visit.attribute("trawl.outcome", ending.error !== undefined ? "error" : ending.notModified ? "not_modified" : "ok")
    if (ending.status !== undefined) visit.attribute("http.response.status_code", ending.status)
    if (ending.error !== undefined) visit.attribute("error.type", ending.error.tag)
    visit.end(now, exit ?? (ending.error !== undefined ? failed(ending.error) : Exit.void))
  })

/**
 * Runs a batch's write in a `trawl.store.write` span (the store's own spans
 * below it) and gives each visit of the batch a `trawl.store` child covering
 * that write, linked to the batch's span; then ends the visits. `failureOf`
 * tells the error of a write that completed with one (`undefined`: written).
 */
export const writeBatch = <A, E, R>(
  batch: ReadonlyArray<Ending & { readonly visit?: Tracer.Span | undefined }>,
  write: Effect.Effect<A, E, R>,
  failureOf: (result: A) => unknown
): Effect.Effect<A, E, R> =>
  Effect.useSpan(spanNames.storeWrite, { root: true, attributes: { "trawl.batch.size": batch.length } }, (written) =>
    Effect.gen(function*() {
      const steps: Array<Tracer.Span> = []
      for (const outcome of batch) {
        if (outcome.visit === undefined) continue
        steps.push(yield* Effect.makeSpan(spanNames.store, {
          parent: outcome.visit,
          links: [{ span: written, attributes: {} }],
          attributes: { "trawl.batch.size": batch.length }
        }))
      }
      const exit = yield* Effect.exit(Effect.withParentSpan(write, written, { captureStackTrace: false }))
      const now = yield* Clock.currentTimeNanos
      const failure = Exit.isSuccess(exit) ? failureOf(exit.value) : undefined
      // a write that failed (or was interrupted) is each visit's status too
      const failedWrite = Exit.isFailure(exit) ? exit : failure === undefined ? undefined : failed(describe(failure))
      for (const step of steps) step.end(now, failedWrite ?? Exit.void)
      for (const outcome of batch) {
        if (outcome.visit !== undefined) yield* endVisit(outcome.visit, outcome, failedWrite)
      }
      return yield* exit
    }))
