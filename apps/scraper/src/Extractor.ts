/**
 * The extraction stage: turns a fetched page into a `Product`.
 *
 * One interface, two Layers: `layerLocal` runs `@trawl/extract` on the
 * calling fiber (tests, the `extract` command, small runs); the worker Layer
 * runs it in `worker_threads`, so HTML parsing never blocks the event loop —
 * nor does decompression: a page may come as received (`decode`), and is
 * then decompressed and its charset chosen where it is extracted.
 * The pipeline depends only on the `Extractor` service, so switching is a
 * change of Layer.
 *
 * @since 0.1.0
 */
import { Extract, type ExtractError, type Product, type Rules } from "@trawl/extract"
import { Decode, FetchError } from "@trawl/fetch"
import { WorkerPool } from "@trawl/worker"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { type DecodeFailed, ExtractPage, Protocol } from "./extraction/protocol.ts"

/**
 * How to decode a page body sent as received (`fetchPage(…, { decodeBody: false })`):
 * `Decode.Input` without the URL and the body.
 *
 * @since 0.3.0
 */
export interface Encoded {
  /** `Page.contentEncoding`. */
  readonly contentEncoding?: string | undefined
  /** The response's `Content-Type` (the charset hint; else the body's BOM or `<meta>`). */
  readonly contentType?: string | undefined
  /** The fetcher's `maxDecompressedBytes`: past it, `DecompressionBomb`. */
  readonly maxDecompressedBytes: number
}

/**
 * What an extraction needs: the page bytes as fetched, with their charset and
 * final URL, and the target's rules.
 *
 * @since 0.1.0
 */
export interface ExtractRequest {
  readonly url: string
  /** The page bytes. The worker extractor transfers them to a worker: they are gone from the caller's view. */
  readonly body: Uint8Array
  /** The body's charset (`""`: sniffed by the extraction); ignored when `decode` is given. */
  readonly charset: string
  /**
   * The body is as received (still compressed, charset not chosen): it is
   * decoded first (`Decode.decode`) — in the worker by `layerWorker`, on the
   * calling fiber by `layerLocal` — and a body that cannot be decoded fails
   * with the fetcher's own error (`DecompressionBomb`, `BadContentEncoding`,
   * `BadCharset`).
   */
  readonly decode?: Encoded | undefined
  readonly rules?: Rules.Rules | undefined
  /**
   * `body.buffer` holds nothing else in use, so the worker extractor transfers
   * it whole even when the body is only part of it — true of a fetched
   * `Page`'s body, whose buffer may hold its response head too. Otherwise a
   * body that is part of a larger buffer is copied first.
   */
  readonly ownsBuffer?: boolean | undefined
}

/**
 * The extractor's face.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly extract: (
    request: ExtractRequest
  ) => Effect.Effect<Product.Product, ExtractError.ExtractError | ExtractorUnavailable | Decode.DecodeError>
  /**
   * CPU utilisation of the extraction threads (0–1: their event loops' active
   * time over wall time, per thread) since the previous reading (at least
   * 200 ms back), when workers are used. Not the slots taken: a thread waiting
   * for its next page is idle.
   */
  readonly utilization: Effect.Effect<number | undefined>
  /**
   * Extraction threads that died unexpectedly since the extractor started (each
   * replaced by its pool; a page it held is retried or failed), when workers are used.
   *
   * @since 0.3.0
   */
  readonly crashes: Effect.Effect<number | undefined>
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
    Effect.suspend((): Effect.Effect<Product.Product, ExtractError.ExtractError | Decode.DecodeError> => {
      let body = request.body
      let charset = request.charset
      if (request.decode !== undefined) {
        const decoded = Decode.decode({ url: request.url, body, ...request.decode })
        if (Decode.isDecodeError(decoded)) return Effect.fail(decoded)
        body = decoded.body
        charset = decoded.charset
      }
      return Extract.extractProduct(body, {
        url: request.url,
        ...(charset === "" ? {} : { charset }),
        ...(request.rules === undefined ? {} : { rules: request.rules })
      })
    }),
  utilization: Effect.succeed(undefined),
  crashes: Effect.succeed(undefined)
})

/** The handler module: the built `.js` next to this file, or the `.ts` source when running from source. */
const handlerModule = (): URL => {
  const built = new URL("./extraction/handler.js", import.meta.url)
  return fs.existsSync(fileURLToPath(built)) ? built : new URL("./extraction/handler.ts", import.meta.url)
}

/** A page's bytes in a buffer of their own, so transferring it detaches nothing else. */
const ownBuffer = (request: ExtractRequest): Uint8Array<ArrayBuffer> => {
  const body = request.body
  return body.buffer instanceof ArrayBuffer &&
      (request.ownsBuffer === true || (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength))
    ? body as Uint8Array<ArrayBuffer>
    : body.slice()
}

/**
 * Options of the worker-backed extractor.
 *
 * @since 0.1.0
 */
export interface WorkerOptions {
  /** Worker threads. Default: available cores. */
  readonly workers?: number | undefined
  /** Hard limit on one page's extraction; a stuck thread is replaced. Default 10 seconds. */
  readonly deadline?: Duration.Input | undefined
  /** Heap limit of each worker, in MB. Default 256. */
  readonly maxHeapMb?: number | undefined
  /**
   * Young-generation size of each worker, in MB. Default 16. A page's
   * garbage (its text, ~100–200 KB, and what scanning it allocates) dies
   * young, so small scavenges suit it; V8's default for a worker (up to
   * 192 MB) let the young generation grow so large against the old
   * generation's limit that full mark-compacts came first. Measured with
   * `bench:extract`: a few % less CPU a page than the default, and less memory.
   */
  readonly youngHeapMb?: number | undefined
  /**
   * Pages sent ahead to each worker (`WorkerPool` `prefetch`): refills go out
   * several pages to one message. Default 4.
   */
  readonly prefetch?: number | undefined
  /**
   * The handler module (default: trawl's own). Tests and tools may wrap it,
   * e.g. to inject faults; it must default-export a `WorkerHandler` for
   * `Extractor.Protocol`.
   */
  readonly handler?: URL | undefined
}

/**
 * The extraction workers' protocol, for custom handler modules.
 *
 * @since 0.1.0
 */
export { ExtractPage, Protocol } from "./extraction/protocol.ts"

/**
 * What trawl's handler does with one `ExtractPage` (decode a page sent as
 * received, then extract, freeing the page's bytes), for custom handler modules
 * that wrap it — e.g. to inject faults — instead of extracting themselves.
 *
 * @since 0.3.0
 */
export { extractPage } from "./extraction/handler.ts"

/** A decoding failure from a worker as the fetcher's own error (same tag, fields and message). */
const fromWire = (error: DecodeFailed): Decode.DecodeError => {
  switch (error._tag) {
    case "DecompressionBomb":
      return new FetchError.DecompressionBomb({ url: error.url, encoding: error.encoding, limit: error.limit })
    case "BadContentEncoding":
      return new FetchError.BadContentEncoding({ url: error.url, encoding: error.encoding, reason: error.reason })
    case "BadCharset":
      return new FetchError.BadCharset({ url: error.url, charset: error.charset })
  }
}

/**
 * Extracts in a pool of worker threads (`@trawl/worker`): page bytes are
 * transferred to a worker, only the small `Product` comes back. A page sent
 * as received (`decode`) is decompressed and its charset chosen there too, so
 * the event loop never inflates a page. A worker that
 * crashes or gets stuck is replaced; its page fails with
 * `ExtractorUnavailable` and the pipeline records the error.
 *
 * @example
 * ```ts
 * import { Extractor } from "@trawl/scraper"
 * const live = Extractor.layerWorker({ workers: 2 })
 * ```
 * @since 0.1.0
 */
export const layerWorker = (options?: WorkerOptions): Layer.Layer<Extractor, ExtractorUnavailable> =>
  Layer.effect(
    Extractor,
    Effect.gen(function*() {
      const size = options?.workers
      const cpu = new CpuReadings()
      const pool = yield* WorkerPool.make(Protocol, {
        handler: options?.handler ?? handlerModule(),
        name: "extract",
        ...(size === undefined ? {} : { minSize: size, maxSize: size }),
        ...(options?.prefetch === undefined ? {} : { prefetch: options.prefetch }),
        taskDeadline: options?.deadline ?? "10 seconds",
        retry: "never",
        resourceLimits: {
          maxOldGenerationSizeMb: options?.maxHeapMb ?? 256,
          maxYoungGenerationSizeMb: options?.youngHeapMb ?? 16
        }
      }).pipe(Effect.mapError((error) => new ExtractorUnavailable({ reason: error.message })))
      return {
        extract: (request) =>
          WorkerPool.ask(
            pool,
            new ExtractPage({
              url: request.url,
              body: ownBuffer(request),
              charset: request.charset,
              ...(request.rules === undefined ? {} : { rules: request.rules }),
              ...(request.decode === undefined ? {} : { decode: encodedOf(request.decode) })
            }),
            { timeout: "60 seconds" }
          ).pipe(
            Effect.catch((error): Effect.Effect<never, ExtractError.ExtractError | ExtractorUnavailable | Decode.DecodeError> => {
              switch (error._tag) {
                case "ExtractError":
                  return Effect.fail(error as ExtractError.ExtractError)
                case "DecompressionBomb":
                case "BadContentEncoding":
                case "BadCharset":
                  return Effect.fail(fromWire(error))
                default:
                  return Effect.fail(new ExtractorUnavailable({ reason: `${error._tag}: ${error.message}` }))
              }
            })
          ),
        utilization: Effect.map(WorkerPool.stats(pool), (stats) => cpu.read(stats)),
        crashes: Effect.map(WorkerPool.stats(pool), (stats) => stats.crashes)
      } satisfies Service
    })
  )

/** `Encoded` without its undefined fields (the protocol's optional fields are exact). */
const encodedOf = (encoded: Encoded) => ({
  maxDecompressedBytes: encoded.maxDecompressedBytes,
  ...(encoded.contentEncoding === undefined ? {} : { contentEncoding: encoded.contentEncoding }),
  ...(encoded.contentType === undefined ? {} : { contentType: encoded.contentType })
})

/** Readings of the pool's `activeMillis`: the utilisation since the previous one. */
class CpuReadings {
  private at = performance.now()
  private activeMillis = 0
  private last = 0
  read(stats: WorkerPool.Stats): number {
    const now = performance.now()
    // readers close together (the status line and the dashboard) share the last interval
    if (now - this.at < 200) return this.last
    const threads = Math.max(1, stats.threads)
    this.last = Math.min(1, Math.max(0, (stats.activeMillis - this.activeMillis) / ((now - this.at) * threads)))
    this.at = now
    this.activeMillis = stats.activeMillis
    return this.last
  }
}
