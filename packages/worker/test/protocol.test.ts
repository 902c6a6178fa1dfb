import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import { WorkerError, WorkerPool } from "@trawl/worker"
import { ExtractPrices, Hash, Inc, IncAsText, Misbehave, MismatchedProtocol, Prices, Protocol, Reject, Rejected, Spin, SpinAsText } from "./fixtures/protocol.ts"
import { handler } from "./helpers.ts"

const page = `<html><body>
  <div class="product" data-price="19.90">Lamp</div>
  <meta itemprop="price" content="24.50">
  <span data-price="5">Bulb</span>
</body></html>`

describe("typed protocol", () => {
  it.live("round trip: requests and responses are schema classes, decoded on both sides", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 41 }), { timeout: "5 seconds" }), 42)
      const prices = yield* WorkerPool.ask(pool, new ExtractPrices({ html: page, currency: "CHF" }), { timeout: "5 seconds" })
      assert.instanceOf(prices, Prices, "the reply is decoded into the success class")
      assert.deepStrictEqual(prices.values, [19.9, 24.5, 5])
      assert.strictEqual(prices.currency, "CHF")
      // data-last form
      assert.strictEqual(yield* WorkerPool.ask(new Inc({ n: 1 }), { timeout: "5 seconds" })(pool), 2)
    })))

  it.live("a typed error comes back as its class; a throwing handler is a TaskDefect and the worker survives", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      const rejected = yield* Effect.flip(WorkerPool.ask(pool, new Reject({ reason: "out of stock" }), { timeout: "5 seconds" }))
      assert.instanceOf(rejected, Rejected)
      assert.strictEqual((rejected as Rejected).reason, "out of stock")
      const before = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      const defect = yield* Effect.flip(WorkerPool.ask(pool, new Misbehave({ kind: "throw", code: 0, delayMs: 0 }), { timeout: "5 seconds" }))
      assert.instanceOf(defect, WorkerError.TaskDefect)
      assert.include(defect.message, "handler threw")
      const after = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      assert.strictEqual(after, before, "same thread before and after the defect")
      assert.strictEqual((yield* WorkerPool.stats(pool)).crashes, 0)
    })))

  it.live("schema-invalid requests: rejected by the caller's encoder, or by the worker's decoder", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      // caller side: a value its schema cannot encode (forged past the class constructor)
      const forged = { _tag: "Inc", n: "forty-one" } as unknown as Inc
      const invalid = yield* Effect.flip(WorkerPool.ask(pool, forged, { timeout: "5 seconds" }))
      assert.instanceOf(invalid, WorkerError.InvalidRequest)
      assert.strictEqual((invalid as WorkerError.InvalidRequest).task, "Inc")
      const unknown = yield* Effect.flip(WorkerPool.ask(pool, { _tag: "Nope" } as unknown as Inc, { timeout: "5 seconds" }))
      assert.instanceOf(unknown, WorkerError.InvalidRequest)
      assert.include(unknown.message, "unknown request tag Nope")

      // worker side: a caller built against another version of the protocol
      const stale = yield* WorkerPool.make(MismatchedProtocol, { handler, minSize: 1, maxSize: 1, name: "stale" })
      const rejected = yield* Effect.flip(WorkerPool.ask(stale, new IncAsText({ n: "41" }), { timeout: "5 seconds" }))
      assert.instanceOf(rejected, WorkerError.InvalidRequest)
      assert.strictEqual((rejected as WorkerError.InvalidRequest).pool, "stale")
      assert.strictEqual((yield* WorkerPool.stats(stale)).crashes, 0, "a bad message never crashes the worker")
    })))

  it.live("schema-invalid responses: refused by the worker's encoder, or by the caller's decoder", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      const bad = yield* Effect.flip(WorkerPool.ask(pool, new Misbehave({ kind: "badResponse", code: 0, delayMs: 0 }), { timeout: "5 seconds" }))
      assert.instanceOf(bad, WorkerError.InvalidResponse)
      const stale = yield* WorkerPool.make(MismatchedProtocol, { handler, minSize: 1, maxSize: 1, name: "stale" })
      // the worker replies a number (its thread id); this caller expects a string
      const undecodable = yield* Effect.flip(WorkerPool.ask(stale, new SpinAsText({ ms: 0 }), { timeout: "5 seconds" }))
      assert.instanceOf(undecodable, WorkerError.InvalidResponse)
      assert.strictEqual((undecodable as WorkerError.InvalidResponse).pool, "stale")
      // the pool is fine afterwards
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "5 seconds" }), 2)
    })))

  it.live("transferables: the request's ArrayBuffer is moved (detached at the sender), the digest moved back", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      const data = new Uint8Array(4 * 1024 * 1024)
      for (let i = 0; i < data.length; i++) data[i] = i % 251
      const expected = createHash("sha256").update(data).digest("hex")
      const source = data.buffer
      const digest = yield* WorkerPool.ask(pool, new Hash({ data }), { timeout: "5 seconds" })
      assert.isTrue(source.detached, "the source ArrayBuffer is detached: moved, not copied")
      assert.strictEqual(source.byteLength, 0)
      assert.strictEqual(data.byteLength, 0)
      assert.strictEqual(digest.size, 4 * 1024 * 1024, "the worker saw every byte")
      assert.strictEqual(Buffer.from(digest.digest).toString("hex"), expected)
    })))

  it.live("a request that cannot cross the thread boundary is an InvalidRequest, not a crash", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      const data = new Uint8Array(16)
      // transferring the same buffer twice in one message is a DataCloneError
      const detachedAlready = new Uint8Array(data.buffer)
      structuredClone(detachedAlready.buffer, { transfer: [detachedAlready.buffer] })
      const error = yield* Effect.flip(WorkerPool.ask(pool, new Hash({ data }), { timeout: "5 seconds" }))
      assert.instanceOf(error, WorkerError.InvalidRequest)
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "5 seconds" }), 2)
    })))
})
