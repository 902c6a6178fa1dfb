import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import { FetchMetrics, Fetcher } from "@trawl/fetch"
import { Permits } from "../src/internal/permits.ts"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

describe("Permits", () => {
  it.live("hands permits over first come first served, and passes on a permit given to an interrupted waiter", () =>
    Effect.gen(function*() {
      const permits = new Permits(1)
      expect(permits.tryTake()).toBe(true)
      const order: Array<number> = []
      const waiter = (n: number) => Effect.andThen(permits.take, Effect.sync(() => order.push(n)))
      const first = yield* Effect.forkChild(waiter(1))
      const second = yield* Effect.forkChild(waiter(2))
      const third = yield* Effect.forkChild(waiter(3))
      yield* realSleep(10)
      expect(permits.waiting).toBe(3)
      yield* Fiber.interrupt(second)
      expect(permits.waiting).toBe(2)
      permits.release()
      yield* Fiber.join(first)
      permits.release()
      yield* Fiber.join(third)
      expect(order).toEqual([1, 3])
      permits.release()
      expect(permits.available).toBe(1)
    }))
})

describe("operations", () => {
  it.live("counts outcomes, bytes and retries in Metrics", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res, self) => {
        if (req.url === "/flaky" && self.count("/flaky") === 1) res.writeHead(500).end()
        else if (req.url === "/missing") res.writeHead(404).end()
        else res.end("<html>0123456789</html>")
      })
      const ok = FetchMetrics.requests.pipe(Metric.withAttributes({ outcome: "ok" }))
      const notFound = FetchMetrics.requests.pipe(Metric.withAttributes({ outcome: "HttpStatus" }))
      const before = {
        ok: (yield* Metric.value(ok)).count,
        status: (yield* Metric.value(notFound)).count,
        retries: (yield* Metric.value(FetchMetrics.retries)).count,
        bytes: (yield* Metric.value(FetchMetrics.bytes)).count
      }
      const fetcher = yield* makeFetcher()
      yield* fetcher.fetchPage(server.url("m.test", "/page"))
      yield* fetcher.fetchPage(server.url("m.test", "/flaky"))
      yield* Effect.flip(fetcher.fetchPage(server.url("m.test", "/missing")))
      expect((yield* Metric.value(ok)).count - before.ok).toBe(2)
      expect((yield* Metric.value(notFound)).count - before.status).toBe(1)
      expect((yield* Metric.value(FetchMetrics.retries)).count - before.retries).toBe(1)
      expect(Number((yield* Metric.value(FetchMetrics.bytes)).count) - Number(before.bytes)).toBe(46)
      expect((yield* Metric.value(FetchMetrics.latency)).count).toBeGreaterThanOrEqual(3)
    }))

  it.live("interrupting a fetch mid-body aborts the connection and frees the host's permit", () =>
    Effect.gen(function*() {
      let closed = 0
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/stuck") {
          res.writeHead(200, { "content-type": "text/html" })
          res.write("<html>")
          res.on("close", () => closed++)
        } else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1 })
      const fiber = yield* Effect.forkChild(fetcher.fetchPage(server.url("int.test", "/stuck")))
      yield* realSleep(100)
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      expect(Exit.hasInterrupts(exit)).toBe(true)
      yield* realSleep(50)
      expect(closed).toBe(1)
      // With one permit per host, this only succeeds if the interrupted fetch gave its permit back.
      const page = yield* fetcher.fetchPage(server.url("int.test", "/after"))
      expect(page.status).toBe(200)
    }))

  it.effect("refuses bad settings with a typed InvalidOptions", () =>
    Effect.gen(function*() {
      const cases: Array<readonly [Fetcher.Input, string]> = [
        [{ perHostConcurrency: 0 }, "perHostConcurrency"],
        [{ globalConcurrency: 1.5 }, "globalConcurrency"],
        [{ maxRetries: -1 }, "maxRetries"],
        [{ userAgent: "trawl\r\nX-Injected: 1" }, "userAgent"],
        [{ resolve: { "*.test": "not-an-ip" } }, "resolve"],
        [{ allowRanges: ["lan" as never] }, "allowRanges"]
      ]
      for (const [input, option] of cases) {
        const error = yield* Effect.flip(makeFetcher(input))
        expect(error._tag).toBe("InvalidOptions")
        expect(error.option).toBe(option)
      }
    }))

  it.effect("reads its settings through Config", () =>
    Effect.gen(function*() {
      const input = yield* Fetcher.config
      expect(input.perHostConcurrency).toBe(3)
      expect(input.robots).toBe(false)
      expect(input.resolve).toEqual({ "*.shop.test": "127.0.0.1", "a.test": "::1" })
      expect(input.allowRanges).toEqual(["loopback"])
      expect(input.userAgent).toBe(Fetcher.defaultUserAgent)
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({
          env: {
            TRAWL_FETCH_PER_HOST_CONCURRENCY: "3",
            TRAWL_FETCH_ROBOTS: "false",
            TRAWL_FETCH_RESOLVE: "*.shop.test=127.0.0.1, a.test=::1",
            TRAWL_FETCH_ALLOW_RANGES: "loopback"
          }
        })
      )
    ))

  it.effect("rejects unknown address ranges in Config with a clear message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.gen(function*() {
        return yield* Fetcher.config
      }))
      expect(error.message).toContain("unknown ranges lan")
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: { TRAWL_FETCH_ALLOW_RANGES: "loopback,lan" } })
      )
    ))
})
