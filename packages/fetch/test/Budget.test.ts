import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Agent } from "undici"
import { AddressGuard, FetchError } from "@trawl/fetch"
import { BodyBudget } from "../src/internal/budget.ts"
import * as Connector from "../src/internal/connector.ts"
import * as Dispatch from "../src/internal/dispatch.ts"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

// Deterministic, distinct content per path: a wrong or mixed-up body is caught byte for byte.
const bodyFor = (path: string, size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  let seed = 0
  for (const char of path) seed = (seed * 31 + char.charCodeAt(0)) >>> 0
  for (let i = 0; i < size; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    out[i] = 97 + (seed >>> 24) % 26
  }
  return out
}

/** An agent whose connector gates reads on `budget`, as `Fetcher.makeAgent` builds it. */
const gatedAgent = (budget: BodyBudget) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new Agent({
        connections: 64,
        pipelining: 1,
        connect: Connector.make({
          connectTimeoutMillis: 5_000,
          resolve: AddressGuard.resolveMap({ "*.test": "127.0.0.1" }),
          allowedRanges: ["loopback"],
          budget
        })
      })
    ),
    (agent) => Effect.promise(() => agent.destroy())
  )

/** Exchange settings over `gatedAgent(budget)`, with the timeouts a case needs. */
const gatedSettings = (budget: BodyBudget, timeouts: { readonly headersTimeoutMillis: number; readonly totalTimeoutMillis: number }) =>
  Effect.map(gatedAgent(budget), (agent): Dispatch.Settings => ({
    dispatcher: agent,
    budget,
    connectTimeoutMillis: 5_000,
    drainLimit: 64 * 1024,
    ...timeouts
  }))

const keep: Dispatch.Plan = { _tag: "Keep", limit: 8 * 1024 * 1024, truncate: false }

describe("body budget", () => {
  it.live("hundreds of concurrent responses far larger than the budget all complete with their own bodies", () =>
    Effect.gen(function*() {
      const size = 96 * 1024
      const count = 400
      // All answers wait until the last request is in (a barrier, not a delay: on a loaded machine
      // 400 requests may take longer than any fixed delay to arrive), then go out as one burst. If
      // the budget held requests back the barrier would never fill; after 15 s it opens anyway and
      // the peak below says so. Chunked on odd pages (no declared length), Content-Length on even ones.
      const waiting: Array<() => void> = []
      const open = () => waiting.splice(0).forEach((answer) => answer())
      const fallback = setTimeout(open, 15_000)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(fallback)))
      const server = yield* TestServer.start((req, res) => {
        const body = bodyFor(req.url ?? "", size)
        waiting.push(() => {
          if (Number((req.url ?? "").split("/").at(-1)) % 2 === 1) {
            res.write(body.subarray(0, size / 2))
            setTimeout(() => res.end(body.subarray(size / 2)), 5)
          } else {
            res.writeHead(200, { "content-type": "text/html", "content-length": String(size) }).end(body)
          }
        })
        if (waiting.length === count) {
          clearTimeout(fallback)
          open()
        }
      })
      const fetcher = yield* makeFetcher({
        maxBufferedBodyBytes: 256 * 1024,
        globalConcurrency: 400,
        perHostConcurrency: 100,
        throttle: { enabled: false }
      })
      const paths = Array.from({ length: count }, (_, i) => `/p/${i}`)
      const sizes = yield* Effect.forEach(
        paths,
        (path, i) =>
          Effect.map(fetcher.fetchPage(server.url(`b${i % 4}.test`, path)), (page) => {
            expect(Buffer.from(page.body).equals(bodyFor(path, size))).toBe(true)
            return page.body.byteLength
          }),
        { concurrency: "unbounded" }
      )
      expect(sizes.every((n) => n === size)).toBe(true)
      // All 400 requests were in flight on the server at once: the budget held responses back, not requests.
      expect(server.peakTotal()).toBe(count)
    }), 30_000)

  it.live("the budget bounds the body bytes held at once; every exchange completes", () =>
    Effect.gen(function*() {
      const size = 100 * 1024
      const count = 300
      const server = yield* TestServer.start((req, res) => {
        // Hold every answer until all requests are in, so they arrive as one burst.
        setTimeout(() => res.writeHead(200, { "content-length": String(size) }).end(bodyFor(req.url ?? "", size)), 300)
      })
      const budget = new BodyBudget(512 * 1024)
      const settings = yield* gatedSettings(budget, { headersTimeoutMillis: 10_000, totalTimeoutMillis: 20_000 })
      let maxPaused = 0
      let maxWaiting = 0
      const exchanges = Array.from({ length: count }, (_, i) => {
        const path = `/q/${i}`
        const exchange = new Dispatch.Exchange(settings, new URL(server.url(`g${i % 5}.test`, path)), {}, () => keep)
        return exchange.run.pipe(
          // A slow consumer: results are taken a little later, so bytes pile up unless the budget holds reads back.
          Effect.tap(() => Effect.sleep(2)),
          Effect.map((response) => {
            maxPaused = Math.max(maxPaused, budget.pausedCount)
            maxWaiting = Math.max(maxWaiting, budget.waitingCount)
            expect(response.status).toBe(200)
            expect(Buffer.from(response.body).equals(bodyFor(path, size))).toBe(true)
            return response.body.byteLength
          }),
          Effect.onExit(() => Effect.sync(() => exchange.dispose()))
        )
      })
      const sizes = yield* Effect.all(exchanges, { concurrency: "unbounded" })
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(count * size)
      // 30 MB went through; at most the budget plus one socket read per running response was held.
      expect(budget.peak).toBeLessThan(2 * budget.limit + 64 * 1024)
      expect(maxWaiting).toBeGreaterThan(0)
      expect(budget.held).toBe(0)
      expect(budget.reading).toBe(0)
      expect(budget.running).toBe(0)
    }), 30_000)

  it.live("a response paused by the budget still ends at the total timeout; nothing hangs", () =>
    Effect.gen(function*() {
      // Two bodies that send 512 KiB of a declared 1 MiB and then stall: together they pass the
      // 256 KiB budget, so one is paused (the other, the last one running, stalls on the wire).
      const server = yield* TestServer.start((_req, res) => {
        res.writeHead(200, { "content-length": String(1024 * 1024) })
        res.write(Buffer.alloc(512 * 1024, 120))
      })
      const budget = new BodyBudget(256 * 1024)
      const settings = yield* gatedSettings(budget, { headersTimeoutMillis: 5_000, totalTimeoutMillis: 1_500 })
      let sawPaused = 0
      const watch = Effect.forever(
        Effect.andThen(Effect.sync(() => (sawPaused = Math.max(sawPaused, budget.pausedCount))), Effect.sleep(20))
      )
      const started = Date.now()
      const run = (i: number) => {
        const exchange = new Dispatch.Exchange(settings, new URL(server.url("stall.test", `/s/${i}`)), {}, () => keep)
        return Effect.exit(exchange.run).pipe(Effect.ensuring(Effect.sync(() => exchange.dispose())))
      }
      const exits = yield* Effect.raceFirst(Effect.all([run(0), run(1)], { concurrency: "unbounded" }), Effect.andThen(watch, Effect.never))
      expect(sawPaused).toBe(1)
      for (const exit of exits) {
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
        expect(error?._tag === "Some" && error.value instanceof FetchError.Timeout && error.value.phase).toBe("total")
      }
      expect(Date.now() - started).toBeLessThan(4_000)
      expect(budget.held).toBe(0)
      expect(budget.running).toBe(0)
      expect(budget.pausedCount).toBe(0)
    }), 15_000)
})
