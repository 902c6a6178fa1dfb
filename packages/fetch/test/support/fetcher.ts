import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Fetcher } from "@trawl/fetch"

/** Test settings: loopback allowed, `*.test` resolved to 127.0.0.1, quick retries, no politeness delay. */
export const testInput: Fetcher.Input = {
  allowRanges: ["loopback"],
  resolve: { "*.test": "127.0.0.1" },
  perHostMinDelayMillis: 0,
  throttle: { enabled: false },
  robots: false,
  retryBaseMillis: 10,
  retryMaxDelayMillis: 50,
  headersTimeoutMillis: 5_000,
  totalTimeoutMillis: 10_000
}

/** A fetcher that lives as long as the test's scope. */
export const makeFetcher = (input: Fetcher.Input = {}): Effect.Effect<Fetcher.Service, Fetcher.InvalidOptions, Scope.Scope> =>
  Layer.build(Fetcher.layer({ ...testInput, ...input })).pipe(
    Effect.map((context) => Context.get(context, Fetcher.Fetcher))
  )
