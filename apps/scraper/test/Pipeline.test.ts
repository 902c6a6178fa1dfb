import { assert, describe, it } from "@effect/vitest"
import { Fetcher } from "@trawl/fetch"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Extractor, Pipeline } from "../src/index.ts"

/** A shop on 127.0.0.1: /p/N has a JSON-LD price of N.99 EUR and an ETag; /missing is 404. */
const shop = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ port: number; server: http.Server; requests: Array<string> }>((resolve) => {
      const requests: Array<string> = []
      const server = http.createServer((req, res) => {
        requests.push(`${req.headers.host}${req.url}`)
        if (req.url === "/robots.txt") return res.writeHead(404).end()
        const match = /^\/p\/(\d+)$/.exec(req.url ?? "")
        if (match === null) return res.writeHead(404).end("no")
        const etag = `"v${match[1]}"`
        if (req.headers["if-none-match"] === etag) return res.writeHead(304, { etag }).end()
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", etag })
        res.end(`<html><head><script type="application/ld+json">{"@type":"Product","name":"Item ${match[1]}","offers":{"@type":"Offer","price":"${match[1]}.99","priceCurrency":"EUR"}}</script></head></html>`)
      })
      server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, server, requests }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const layers = Layer.merge(
  Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostMinDelayMillis: 0 }),
  Extractor.layerLocal
)

describe("Pipeline", () => {
  it.live("one pass records every target: prices, typed errors, and 304 as unchanged on the next pass", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const targets: Array<Pipeline.Target> = Array.from({ length: 30 }, (_, i) => ({
        id: i,
        host: `s${i % 3}.shop.test`,
        url: i === 29 ? `http://s2.shop.test:${port}/missing` : `http://s${i % 3}.shop.test:${port}/p/${i}`,
        intervalMillis: 60_000
      }))
      const recorded: Array<Pipeline.Outcome> = []
      const batches: Array<number> = []
      const writer: Pipeline.Writer<never> = {
        record: (batch) => Effect.sync(() => {
          batches.push(batch.length)
          recorded.push(...batch)
        })
      }
      const first = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 16, maxBatch: 8 })
      yield* first.done.pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(recorded.length, 30)
      assert.isTrue(batches.every((size) => size <= 8))
      for (const outcome of recorded) {
        if (outcome.target.id === 29) {
          assert.strictEqual(outcome.error?.tag, "HttpStatus")
        } else {
          assert.strictEqual(outcome.product?.price?.amount, `${outcome.target.id}.99`)
          assert.strictEqual(outcome.product?.currency, "EUR")
          assert.strictEqual(outcome.etag, `"v${outcome.target.id}"`)
        }
      }
      const counters = yield* first.counters
      assert.strictEqual(counters.recorded, 30)
      assert.strictEqual(counters.errorsByTag["HttpStatus"], 1)

      // next pass with the validators recorded: every page is a 304, nothing is extracted
      const withValidators = recorded.filter((o) => o.etag !== undefined).map((o) => ({ ...o.target, etag: o.etag }))
      recorded.length = 0
      const second = yield* Pipeline.start(withValidators, writer, { once: true, fetchFibers: 16 })
      yield* second.done.pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(recorded.length, 29)
      assert.isTrue(recorded.every((o) => o.notModified && o.product === undefined && o.status === 304))
      assert.strictEqual((yield* second.counters).extracted, 0)
    }).pipe(Effect.provide(layers)))

  it.live("outcomes arriving together are written in a few large transactions (batch window)", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const targets: Array<Pipeline.Target> = Array.from({ length: 120 }, (_, i) => ({
        id: i,
        host: `s${i % 12}.shop.test`,
        url: `http://s${i % 12}.shop.test:${port}/p/${i}`,
        intervalMillis: 60_000
      }))
      const batches: Array<number> = []
      const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void batches.push(batch.length)) }
      const run = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 16, batchWindowMillis: 300 })
      yield* run.done.pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(batches.reduce((a, b) => a + b, 0), 120)
      // without the window each write takes what one fetch fiber just finished: dozens of transactions
      assert.isAtMost(batches.length, 8, `batches: ${batches.join(",")}`)
    }).pipe(Effect.provide(layers)))

  it.live("a failing store writer fails the run instead of hanging", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const writer: Pipeline.Writer<string> = { record: () => Effect.fail("disk full") }
      const running = yield* Pipeline.start([{ id: 1, host: "a.shop.test", url: `http://a.shop.test:${port}/p/1`, intervalMillis: 1000 }], writer, { once: true })
      const error = yield* Effect.flip(running.done.pipe(Effect.timeout("20 seconds")))
      assert.strictEqual(error, "disk full")
    }).pipe(Effect.provide(layers)))

  it.live("drain stops dispatching and waits for what is in flight", () =>
    Effect.gen(function*() {
      const { port, requests } = yield* shop
      const recorded: Array<Pipeline.Outcome> = []
      const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void recorded.push(...batch)) }
      const targets = Array.from({ length: 10 }, (_, i) => ({ id: i, host: `d${i}.shop.test`, url: `http://d${i}.shop.test:${port}/p/${i}`, intervalMillis: 50 }))
      const running = yield* Pipeline.start(targets, writer, { fetchFibers: 4 })
      yield* Effect.sleep("300 millis")
      const drained = yield* running.drain(5_000)
      assert.isTrue(drained)
      const after = requests.length
      const { dispatched, inFlight } = yield* running.schedule
      assert.strictEqual(recorded.length, dispatched)
      assert.strictEqual(inFlight, 0)
      yield* Effect.sleep("200 millis")
      assert.strictEqual(requests.length, after, "nothing is fetched after the drain")
    }).pipe(Effect.provide(layers)))

  it.live("a refresh schedules new targets once, leaves known ones alone, takes changed settings and drops removed ones", () =>
    Effect.gen(function*() {
      const { port, requests } = yield* shop
      const recorded: Array<Pipeline.Outcome> = []
      const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void recorded.push(...batch)) }
      const first = { id: 1, host: "n1.shop.test", url: `http://n1.shop.test:${port}/p/1`, intervalMillis: 3_600_000 }
      const running = yield* Pipeline.start([first], writer, { fetchFibers: 2 })
      while (recorded.length < 1) yield* Effect.sleep("20 millis")
      const second = { id: 2, host: "n2.shop.test", url: `http://n2.shop.test:${port}/p/2`, intervalMillis: 3_600_000 }
      const synced = yield* running.syncTargets([first, second])
      assert.deepStrictEqual(synced, { added: 1, changed: 0, removed: 0 })
      while (recorded.length < 2) yield* Effect.sleep("20 millis")
      yield* Effect.sleep("100 millis")
      assert.deepStrictEqual(recorded.map((o) => o.target.id), [1, 2])
      assert.strictEqual(requests.filter((r) => r.endsWith("/p/1")).length, 1, "the known target was not fetched again")
      // target 1's interval shortened in the store (its next visit due now): the schedule takes it, and visits again
      const sooner = { ...first, intervalMillis: 100, dueAt: Date.now() }
      assert.deepStrictEqual(yield* running.syncTargets([sooner, second]), { added: 0, changed: 1, removed: 0 })
      while (recorded.length < 4) yield* Effect.sleep("20 millis")
      assert.isAtLeast(recorded.filter((o) => o.target.id === 1).length, 3, "visited every 100 ms now")
      assert.strictEqual(recorded.filter((o) => o.target.id === 2).length, 1, "the unchanged target not again")
      // the same settings again: nothing changed
      assert.deepStrictEqual(yield* running.syncTargets([sooner, second]), { added: 0, changed: 0, removed: 0 })
      // target 1 removed (or disabled) in the store: it leaves the schedule
      assert.deepStrictEqual(yield* running.syncTargets([second]), { added: 0, changed: 0, removed: 1 })
      assert.strictEqual((yield* running.schedule).targets, 1)
    }).pipe(Effect.provide(layers)))

  it.live("a continuous run sends the validators it learned: the next visit is a 304", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const recorded: Array<Pipeline.Outcome> = []
      const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void recorded.push(...batch)) }
      yield* Pipeline.start([{ id: 1, host: "v.shop.test", url: `http://v.shop.test:${port}/p/5`, intervalMillis: 200 }], writer, { fetchFibers: 1 })
      while (recorded.length < 2) yield* Effect.sleep("20 millis")
      assert.strictEqual(recorded[0]!.status, 200)
      assert.strictEqual(recorded[0]!.etag, `"v5"`)
      assert.isTrue(recorded[1]!.notModified, "the second visit carried If-None-Match")
    }).pipe(Effect.provide(layers)))
})
