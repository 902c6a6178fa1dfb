/**
 * The trawl side of the benchmark: a `Fetcher` with politeness, robots and
 * retries on, pointed at the bench server through the resolve map.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Fetcher } from "@trawl/fetch"
import { type LoadResult, measure, pageUrl } from "./ceiling.ts"

/**
 * A fetcher living in its own runtime, for plain-async bench code.
 *
 * @since 0.1.0
 */
export interface BenchFetcher {
  readonly fetcher: Fetcher.Service
  readonly dispose: () => Promise<void>
}

/**
 * Builds a bench fetcher: `*.bench.test` resolves to 127.0.0.1 and loopback is
 * allowed; everything else is the caller's or the defaults (robots, throttle,
 * retries and circuit breaker stay on).
 *
 * @example
 * ```ts
 * import { makeBenchFetcher } from "./trawl.ts"
 * const { fetcher, dispose } = await makeBenchFetcher({ globalConcurrency: 64 })
 * await dispose()
 * ```
 * @since 0.1.0
 */
export const makeBenchFetcher = async (input: Fetcher.Input): Promise<BenchFetcher> => {
  const runtime = ManagedRuntime.make(
    Fetcher.layer({ resolve: { "*.bench.test": "127.0.0.1" }, allowRanges: ["loopback"], ...input })
  )
  const fetcher = await runtime.runPromise(Effect.gen(function*() {
    return yield* Fetcher.Fetcher
  }))
  return { fetcher, dispose: () => runtime.dispose() }
}

/**
 * Fetches `pages` pages (same URLs as the ceiling) with `concurrency` fibers.
 *
 * @example
 * ```ts
 * import { makeBenchFetcher, trawlLoad } from "./trawl.ts"
 * const { fetcher } = await makeBenchFetcher({})
 * const result = await trawlLoad(fetcher, { port: 8080, hosts: 1000, pages: 1000, concurrency: 64 })
 * ```
 * @since 0.1.0
 */
export const trawlLoad = (
  fetcher: Fetcher.Service,
  options: { readonly port: number; readonly hosts: number; readonly pages: number; readonly concurrency: number; readonly offset?: number }
): Promise<LoadResult> =>
  measure(options.pages, () =>
    Effect.runPromise(
      Effect.gen(function*() {
        let bytes = 0
        const offset = options.offset ?? 0
        yield* Effect.forEach(
          Array.from({ length: options.pages }, (_, i) => offset + i),
          (i) =>
            Effect.map(fetcher.fetchPage(pageUrl(options.port, options.hosts, i)), (page) => {
              bytes += page.body.byteLength
            }),
          { concurrency: options.concurrency, discard: true }
        )
        return bytes
      })
    ))
