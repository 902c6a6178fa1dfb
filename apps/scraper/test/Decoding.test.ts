import { assert, describe, it } from "@effect/vitest"
import { Decode, Fetcher, FetchError } from "@trawl/fetch"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Zlib from "node:zlib"
import { Extractor, Pipeline } from "../src/index.ts"

/** A cp1251 page (its charset only in a meta tag): the name decodes right only with the sniffed charset. */
const cp1251Page = (price: string) => {
  const name = Buffer.from([0xcb, 0xe0, 0xec, 0xef, 0xe0]) // "Лампа"
  return Buffer.concat([
    Buffer.from("<html><head><meta charset=\"windows-1251\"><script type=\"application/ld+json\">{\"@type\":\"Product\",\"name\":\""),
    name,
    Buffer.from(`","offers":{"price":"${price}","priceCurrency":"RUB"}}</script></head><body>${"<p>filler</p>".repeat(500)}</body></html>`)
  ])
}

const maxDecompressedBytes = 1 << 20
const bomb = Zlib.gzipSync(Buffer.alloc(16 << 20))

const pages: Record<string, { readonly body: Buffer; readonly headers: Record<string, string> }> = {
  "/gzip": { body: Zlib.gzipSync(cp1251Page("1290.00")), headers: { "content-encoding": "gzip", "content-type": "text/html" } },
  "/br": { body: Zlib.brotliCompressSync(cp1251Page("99.50")), headers: { "content-encoding": "br", "content-type": "text/html" } },
  "/stacked": {
    body: Zlib.brotliCompressSync(Zlib.gzipSync(cp1251Page("7.00"))),
    headers: { "content-encoding": "gzip, br", "content-type": "text/html" }
  },
  "/plain": { body: cp1251Page("5.25"), headers: { "content-type": "text/html" } },
  "/bomb": { body: bomb, headers: { "content-encoding": "gzip", "content-type": "text/html", etag: "\"bomb\"" } },
  "/corrupt": { body: Zlib.gzipSync(cp1251Page("1.00")).subarray(0, 60), headers: { "content-encoding": "gzip", "content-type": "text/html" } },
  "/klingon": { body: Zlib.gzipSync("<meta charset=x-klingon><p>9.99</p>"), headers: { "content-encoding": "gzip", "content-type": "text/html" } }
}

const shop = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ port: number; server: http.Server }>((resolve) => {
      const server = http.createServer((req, res) => {
        const page = pages[req.url ?? ""]
        if (page === undefined) return res.writeHead(404).end()
        res.writeHead(200, { ...page.headers, "content-length": page.body.length }).end(page.body)
      })
      server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, server }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const fetcherLayer = Fetcher.layer({
  resolve: { "*.shop.test": "127.0.0.1" },
  allowRanges: ["loopback"],
  perHostMinDelayMillis: 0,
  robots: false,
  maxRetries: 0,
  maxDecompressedBytes
})

/** What the pipeline recorded before decoding moved to the worker: the fetcher decoded, the extractor extracted. */
const before = (url: string) =>
  Effect.gen(function*() {
    const fetcher = yield* Fetcher.Fetcher
    const fetched = yield* Effect.result(fetcher.fetchPage(url))
    if (fetched._tag === "Failure") return { tag: fetched.failure._tag, message: fetched.failure.message }
    const extractor = yield* Effect.provide(Extractor.Extractor, Extractor.layerLocal)
    const page = fetched.success
    return yield* extractor.extract({ url: page.url, body: page.body, charset: page.charset })
  })

describe("decoding in the extraction worker", () => {
  it.live("gzip, br, stacked and plain pages give the Product they gave when the main thread decoded them; decode failures the same errors, recorded for the target", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const paths = Object.keys(pages)
      const targets: Array<Pipeline.Target> = paths.map((path, i) => ({
        id: i,
        host: `d${i}.shop.test`,
        url: `http://d${i}.shop.test:${port}${path}`,
        intervalMillis: 60_000
      }))
      const expected = yield* Effect.forEach(targets, (target) => before(target.url))
      const recorded: Array<Pipeline.Outcome> = []
      const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void recorded.push(...batch)) }
      const running = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 8 })
      yield* running.done.pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(recorded.length, targets.length)
      for (const [i, path] of paths.entries()) {
        const outcome = recorded.find((o) => o.target.id === i)!
        const want = expected[i]!
        if ("tag" in want) {
          assert.deepStrictEqual(outcome.error, want, path)
          // as when the fetch failed: no status, no validators kept
          assert.isUndefined(outcome.status, path)
          assert.isUndefined(outcome.etag, path)
        } else {
          assert.isUndefined(outcome.error, path)
          assert.deepStrictEqual(outcome.product, want, path)
          assert.strictEqual(outcome.product?.name, "Лампа", path)
        }
      }
      const tags = Object.fromEntries(paths.map((path, i) => [path, recorded.find((o) => o.target.id === i)!.error?.tag]))
      assert.deepStrictEqual(tags, {
        "/gzip": undefined,
        "/br": undefined,
        "/stacked": undefined,
        "/plain": undefined,
        "/bomb": "DecompressionBomb",
        "/corrupt": "BadContentEncoding",
        "/klingon": "BadCharset"
      })
      assert.strictEqual(
        recorded.find((o) => o.target.id === paths.indexOf("/bomb"))!.error?.message,
        new FetchError.DecompressionBomb({ url: targets[paths.indexOf("/bomb")]!.url, encoding: "gzip", limit: maxDecompressedBytes }).message
      )
      const counters = yield* running.counters
      assert.deepStrictEqual(counters.errorsByTag, { DecompressionBomb: 1, BadContentEncoding: 1, BadCharset: 1 })
    }).pipe(Effect.provide(Layer.merge(fetcherLayer, Extractor.layerWorker({ workers: 1 })))), 60_000)

  const suite = (name: string, layer: Layer.Layer<Extractor.Extractor, Extractor.ExtractorUnavailable>) =>
    it.live(`${name}: a compressed body is decoded before extraction (transferred, not copied); a bomb is a DecompressionBomb`, () =>
      Effect.gen(function*() {
        const extractor = yield* Extractor.Extractor
        const local = Context.get(yield* Layer.build(Extractor.layerLocal), Extractor.Extractor)
        const decoded = yield* local.extract({ url: "https://shop.example/l", body: cp1251Page("12.00"), charset: "windows-1251" })
        const body = new Uint8Array(Zlib.gzipSync(cp1251Page("12.00")))
        const buffer = body.buffer
        const product = yield* extractor.extract({
          url: "https://shop.example/l",
          body,
          ownsBuffer: true,
          charset: "",
          decode: { contentEncoding: "gzip", contentType: "text/html", maxDecompressedBytes }
        })
        assert.deepStrictEqual(product, decoded)
        if (name === "layerWorker") assert.isTrue(buffer.detached, "the compressed bytes moved to the worker")
        const error = yield* Effect.flip(extractor.extract({
          url: "https://shop.example/b",
          body: new Uint8Array(bomb),
          charset: "",
          decode: { contentEncoding: "gzip", contentType: "text/html", maxDecompressedBytes }
        }))
        assert.instanceOf(error, FetchError.DecompressionBomb)
        assert.deepStrictEqual(error, new FetchError.DecompressionBomb({ url: "https://shop.example/b", encoding: "gzip", limit: maxDecompressedBytes }))
        assert.strictEqual(error.message, `gzip body decompresses past ${maxDecompressedBytes} bytes: https://shop.example/b`)
        const charset = yield* Effect.flip(extractor.extract({
          url: "https://shop.example/k",
          body: new TextEncoder().encode("<meta charset=x-klingon>"),
          charset: "",
          decode: { contentType: "text/html", maxDecompressedBytes }
        }))
        assert.instanceOf(charset, FetchError.BadCharset)
        assert.isTrue(Decode.isDecodeError(charset as Decode.DecodeError))
      }).pipe(Effect.scoped, Effect.provide(layer)))
  suite("layerLocal", Extractor.layerLocal)
  suite("layerWorker", Extractor.layerWorker({ workers: 1 }))
})
