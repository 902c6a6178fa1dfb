/**
 * The extraction worker's handler module: runs `@trawl/extract` on the pages
 * the pool hands it, inside a worker thread.
 *
 * @internal
 */
import { Extract, type ExtractError, type Product } from "@trawl/extract"
import * as Decode from "@trawl/fetch/Decode"
import { WorkerHandler } from "@trawl/worker"
import * as Effect from "effect/Effect"
import { type DecodeFailed, type ExtractPage, Protocol, toWire } from "./protocol.ts"

/**
 * Frees a page's bytes as soon as its extraction is over (the product holds
 * copies, never views of them). A transferred page's buffer is memory outside
 * the V8 heap that only a garbage collection would otherwise free, and V8
 * counts it toward its heap limit: at ~100 KB a page that alone forced a
 * full mark-compact every ~150 pages (`bench:extract`: 0.49 → 0.36 cpu-s
 * per 1,000 pages with the smaller young generation). Detaching (`transfer(0)`) hands
 * the memory back at once.
 */
const release = (body: Uint8Array): void => {
  const buffer = body.buffer
  if (buffer instanceof ArrayBuffer && !buffer.detached && buffer.byteLength > 0) buffer.transfer(0)
}

const extract = (request: ExtractPage, body: Uint8Array, charset: string) =>
  Extract.extractProduct(body, {
    url: request.url,
    ...(charset === "" ? {} : { charset }),
    ...(request.rules === undefined ? {} : { rules: request.rules })
  }).pipe(Effect.ensuring(Effect.sync(() => release(body))))

/**
 * The handler's procedure: a page sent as received is decoded first
 * (decompressed within its cap, its charset chosen: `@trawl/fetch/Decode`,
 * which loads no HTTP client), so the scraper's main thread never inflates a
 * page; then the product is extracted. The page's bytes (compressed and
 * inflated) are freed as soon as they are used. Custom handler modules (fault
 * injection) wrap this.
 */
export const extractPage = (request: ExtractPage): Effect.Effect<Product.Product, ExtractError.ExtractError | DecodeFailed> => {
  if (request.decode === undefined) return extract(request, request.body, request.charset)
  const decoded = Decode.decode({ url: request.url, body: request.body, ...request.decode })
  if (Decode.isDecodeError(decoded)) {
    release(request.body)
    return Effect.fail(toWire(decoded))
  }
  if (decoded.body !== request.body) release(request.body)
  return extract(request, decoded.body, decoded.charset)
}

const handler: WorkerHandler.WorkerHandler<typeof Protocol> = WorkerHandler.make(Protocol, { ExtractPage: extractPage })

export default handler
