import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ExtractError, Product } from "@trawl/extract"
import handler from "../src/extraction/handler.ts"
import { Extractor } from "../src/index.ts"

const html = (price: string) =>
  new TextEncoder().encode(`<html><head><script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"${price}","priceCurrency":"CHF"}}</script></head></html>`)

const suite = (name: string, layer: typeof Extractor.layerLocal | ReturnType<typeof Extractor.layerWorker>) =>
  describe(name, () => {
    it.live("extracts a product; a page that is not HTML is a typed ExtractError", () =>
      Effect.gen(function*() {
        const extractor = yield* Extractor.Extractor
        const product = yield* extractor.extract({ url: "https://shop.example/lamp", body: html("129.50"), charset: "utf-8" })
        assert.strictEqual(product.price?.amount, "129.50")
        assert.strictEqual(product.currency, "CHF")
        const error = yield* Effect.flip(extractor.extract({ url: "https://shop.example/x", body: new Uint8Array(0), charset: "" }))
        assert.strictEqual(error._tag, "ExtractError")
      }).pipe(Effect.provide(layer)))
  })

suite("Extractor.layerLocal", Extractor.layerLocal)
suite("Extractor.layerWorker", Extractor.layerWorker({ workers: 2 }))

describe("Extractor.layerWorker specifics", () => {
  it.live("utilization is the threads' CPU: near 0 while they wait, high while they extract back to back", () =>
    Effect.gen(function*() {
      const extractor = yield* Extractor.Extractor
      // a page that takes a while to scan: 2 MB of markup around its product
      const big = () => {
        const filler = "<div class=\"c\"><p>lorem ipsum dolor sit amet</p></div>".repeat(40_000)
        return new TextEncoder().encode(`<html><body>${filler}<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"1.00","priceCurrency":"CHF"}}</script></body></html>`)
      }
      yield* extractor.extract({ url: "https://shop.example/warm", body: html("1.00"), charset: "utf-8" })
      yield* extractor.utilization
      yield* Effect.sleep("400 millis")
      const idle = (yield* extractor.utilization)!
      assert.isBelow(idle, 0.1, `idle threads: ${idle}`)
      const busyUntil = Date.now() + 800
      yield* Effect.all([0, 1].map(() =>
        Effect.whileLoop({
          while: () => Date.now() < busyUntil,
          body: () => extractor.extract({ url: "https://shop.example/big", body: big(), charset: "utf-8" }),
          step: () => undefined
        })
      ), { concurrency: 2 })
      const busy = (yield* extractor.utilization)!
      assert.isAbove(busy, 0.4, `extracting threads: ${busy}`)
    }).pipe(Effect.provide(Extractor.layerWorker({ workers: 2 }))))

  it.live("many pages in parallel on 2 threads, bytes transferred (the sender's buffer is detached)", () =>
    Effect.gen(function*() {
      const extractor = yield* Extractor.Extractor
      const bodies = Array.from({ length: 50 }, (_, i) => html(`${i}.00`))
      const products = yield* Effect.forEach(bodies, (body, i) => extractor.extract({ url: `https://shop.example/${i}`, body, charset: "utf-8" }), { concurrency: 8 })
      assert.deepStrictEqual(products.map((p) => p.price?.amount), bodies.map((_, i) => `${i}.00`))
      assert.isTrue(bodies.every((body) => body.byteLength === 0), "each page's buffer moved to a worker")
      const utilization = yield* extractor.utilization
      assert.isNumber(utilization)
    }).pipe(Effect.provide(Extractor.layerWorker({ workers: 2 }))))

  it.live("a body that is part of its buffer moves whole when it owns the buffer (a fetched page), else is copied", () =>
    Effect.gen(function*() {
      const extractor = yield* Extractor.Extractor
      // A fetched page's body can be its socket read: the response head in front of it.
      const inRead = (price: string) => {
        const head = new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 200\r\n\r\n")
        const page = html(price)
        const read = new Uint8Array(head.byteLength + page.byteLength)
        read.set(head)
        read.set(page, head.byteLength)
        return read.subarray(head.byteLength)
      }
      const owned = inRead("1.00")
      const ownedBuffer = owned.buffer
      const product = yield* extractor.extract({ url: "https://shop.example/o", body: owned, ownsBuffer: true, charset: "utf-8" })
      assert.strictEqual(product.price?.amount, "1.00")
      assert.isTrue(ownedBuffer.detached, "transferred, not copied")
      const shared = inRead("2.00")
      const again = yield* extractor.extract({ url: "https://shop.example/s", body: shared, charset: "utf-8" })
      assert.strictEqual(again.price?.amount, "2.00")
      assert.isFalse(shared.buffer.detached, "copied: the rest of the buffer stays the caller's")
      assert.include(new TextDecoder().decode(shared), "2.00")
    }).pipe(Effect.provide(Extractor.layerWorker({ workers: 1 }))))
})

describe("extraction handler", () => {
  it.live("frees the page's bytes once the product is extracted, also when extraction fails", () =>
    Effect.gen(function*() {
      // the handler as the worker runs it: it answers with an Effect
      const run = (request: Extractor.ExtractPage) =>
        handler.handlers.ExtractPage(request) as Effect.Effect<Product.Product, ExtractError.ExtractError>
      const body = html("12.00")
      const product = yield* run(new Extractor.ExtractPage({ url: "https://shop.example/a", body, charset: "utf-8" }))
      assert.strictEqual(product.price?.amount, "12.00")
      assert.isTrue(body.buffer.detached, "the page's buffer is released")
      const binary = new Uint8Array([0, 1, 2, 3])
      const error = yield* Effect.flip(run(new Extractor.ExtractPage({ url: "https://shop.example/b", body: binary, charset: "" })))
      assert.strictEqual(error._tag, "ExtractError")
      assert.isTrue(binary.buffer.detached)
    }))
})
