/**
 * The extraction stage: turns a fetched page into a `Product`.
 *
 * One interface, two Layers: `layerLocal` runs `@trawl/extract` on the
 * calling fiber (tests, the `extract` command, small runs); the worker Layer
 * runs it in `worker_threads`, so HTML parsing never blocks the event loop.
 * The pipeline depends only on the `Extractor` service, so switching is a
 * change of Layer.
 *
 * @since 0.1.0
 */
import { Extract, type ExtractError, type Product, type Rules } from "@trawl/extract"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * What an extraction needs: the page bytes as fetched, with their charset and
 * final URL, and the target's rules.
 *
 * @since 0.1.0
 */
export interface ExtractRequest {
  readonly url: string
  readonly body: Uint8Array
  readonly charset: string
  readonly rules?: Rules.Rules | undefined
}

/**
 * The extractor's face.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly extract: (request: ExtractRequest) => Effect.Effect<Product.Product, ExtractError.ExtractError | ExtractorUnavailable>
}

/**
 * The extractor itself is unavailable (e.g. its worker pool is down).
 *
 * @since 0.1.0
 */
export class ExtractorUnavailable extends Data.TaggedError("ExtractorUnavailable")<{
  readonly reason: string
}> {
  override get message(): string {
    return `extractor unavailable: ${this.reason}`
  }
}

/**
 * The `Extractor` service.
 *
 * @since 0.1.0
 */
export class Extractor extends Context.Service<Extractor, Service>()("@trawl/scraper/Extractor") {}

/**
 * Extracts on the calling fiber.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Extractor } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const extractor = yield* Extractor.Extractor
 *   const html = new TextEncoder().encode('<meta property="product:price:amount" content="9.99">')
 *   return yield* extractor.extract({ url: "https://shop.example/p", body: html, charset: "utf-8" })
 * }).pipe(Effect.provide(Extractor.layerLocal))
 * ```
 * @since 0.1.0
 */
export const layerLocal: Layer.Layer<Extractor> = Layer.succeed(Extractor, {
  extract: (request) =>
    Extract.extractProduct(request.body, {
      url: request.url,
      charset: request.charset,
      ...(request.rules === undefined ? {} : { rules: request.rules })
    })
})
