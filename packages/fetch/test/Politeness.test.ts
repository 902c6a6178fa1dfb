import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

/** Real time passes (I/O happens) while the TestClock stands still. */
const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

/** Waits (in real time, up to 5 s) until `condition` holds: I/O is real even under the TestClock. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let waited = 0; !condition() && waited < 5_000; waited += 10) yield* realSleep(10)
    expect(condition()).toBe(true)
  })

const page = (_req: unknown, res: { end: (body: string) => void }) => res.end("<html>ok</html>")

describe("host gates", () => {
  it.live("never exceeds the per-host limit (counted by the server per Host name), hosts run in parallel", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => {
        setTimeout(() => res.end("<html>ok</html>"), 30)
      })
      const fetcher = yield* makeFetcher({ perHostConcurrency: 2, globalConcurrency: 64 })
      const hosts = ["h1.test", "h2.test", "h3.test", "h4.test"]
      const urls = hosts.flatMap((host) => Array.from({ length: 10 }, (_, i) => server.url(host, `/p/${i}`)))
      const pages = yield* Effect.forEach(urls, (url) => fetcher.fetchPage(url), { concurrency: "unbounded" })
      expect(pages.length).toBe(40)
      for (const host of hosts) expect(server.maxConcurrent.get(host)).toBe(2)
      // Total concurrency was above one host's limit: the hosts did not wait on each other.
      expect(server.peakTotal()).toBeGreaterThan(2)
      expect(server.peakTotal()).toBeLessThanOrEqual(8)
    }))

  it.live("never exceeds the global limit", () =>
    Effect.gen(function*() {
      let current = 0
      let peak = 0
      const server = yield* TestServer.start((_req, res) => {
        current++
        peak = Math.max(peak, current)
        setTimeout(() => {
          current--
          res.end("<html>ok</html>")
        }, 20)
      })
      const fetcher = yield* makeFetcher({ perHostConcurrency: 2, globalConcurrency: 3 })
      const urls = Array.from({ length: 30 }, (_, i) => server.url(`g${i % 10}.test`, `/p/${i}`))
      yield* Effect.forEach(urls, (url) => fetcher.fetchPage(url), { concurrency: "unbounded" })
      expect(peak).toBe(3)
    }))

  it.effect("spaces request starts on a host by the minimum delay (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ perHostMinDelayMillis: 2_000, perHostConcurrency: 2 })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3], (i) => fetcher.fetchPage(server.url("slowpoke.test", `/p/${i}`)), {
          concurrency: "unbounded"
        })
      )
      yield* eventually(() => server.seen.length === 1)
      yield* realSleep(100)
      expect(server.seen.length).toBe(1)
      yield* TestClock.adjust(1_999)
      yield* realSleep(100)
      expect(server.seen.length).toBe(1)
      yield* TestClock.adjust(1)
      yield* eventually(() => server.seen.length === 2)
      yield* TestClock.adjust(2_000)
      const pages = yield* Fiber.join(fiber)
      expect(pages.length).toBe(3)
      // Another host is not delayed by this one.
      yield* fetcher.fetchPage(server.url("other.test", "/"))
    }))

  it.effect("drops idle host gates: no memory (and no fiber) per idle host (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ hostIdleMillis: 10_000 })
      yield* Effect.forEach(
        Array.from({ length: 25 }, (_, i) => server.url(`idle${i}.test`, "/")),
        (url) => fetcher.fetchPage(url),
        { concurrency: 5 }
      )
      expect(yield* fetcher.hostCount).toBe(25)
      yield* TestClock.adjust(5_000)
      expect(yield* fetcher.hostCount).toBe(25)
      yield* TestClock.adjust(6_000)
      expect(yield* fetcher.hostCount).toBe(0)
      // A swept host comes back on demand.
      yield* fetcher.fetchPage(server.url("idle0.test", "/again"))
      expect(yield* fetcher.hostCount).toBe(1)
    }))
})

const robotsTxt = [
  "User-agent: *",
  "Disallow: /",
  "",
  "User-agent: Trawl",
  "Disallow: /cart",
  "Disallow: /*.pdf$",
  "Allow: /cart/public",
  "Crawl-delay: 5",
  ""
].join("\n")

describe("robots.txt", () => {
  it.effect("our group wins over *, Disallow/Allow with wildcards, fetched once, Crawl-delay honoured (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") res.end(robotsTxt)
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ robots: true })
      const url = (path: string) => server.url("polite.test", path)
      const disallowed = yield* Effect.flip(fetcher.fetchPage(url("/cart/1")))
      expect(disallowed._tag === "RobotsDisallowed" && disallowed.rule).toBe("/cart")
      const pdf = yield* Effect.flip(fetcher.fetchPage(url("/docs/a.pdf")))
      expect(pdf._tag).toBe("RobotsDisallowed")
      expect(server.count("/cart/1") + server.count("/docs/a.pdf")).toBe(0)
      // Allowed: longer Allow beats Disallow; "$" anchors so a query string escapes it.
      yield* fetcher.fetchPage(url("/cart/public"))
      expect(server.count("/cart/public")).toBe(1)
      // Crawl-delay: 5 s between starts on this host.
      const next = yield* Effect.forkChild(fetcher.fetchPage(url("/docs/a.pdf?x=1")))
      yield* realSleep(200)
      expect(server.count("/docs/a.pdf?x=1")).toBe(0)
      yield* TestClock.adjust(4_900)
      yield* realSleep(100)
      expect(server.count("/docs/a.pdf?x=1")).toBe(0)
      yield* TestClock.adjust(100)
      yield* Fiber.join(next)
      expect(server.count("/docs/a.pdf?x=1")).toBe(1)
      expect(server.count("/robots.txt")).toBe(1)
    }))

  it.live("4xx robots.txt allows everything; the flag turns robots off", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") res.writeHead(404).end()
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ robots: true })
      yield* fetcher.fetchPage(server.url("open.test", "/anything"))
      yield* fetcher.fetchPage(server.url("open.test", "/else"))
      expect(server.count("/robots.txt")).toBe(1)
      const off = yield* makeFetcher({ robots: false })
      yield* off.fetchPage(server.url("open2.test", "/x"))
      expect(server.seen.filter((seen) => seen.host === "open2.test").map((seen) => seen.path)).toEqual(["/x"])
    }))

  it.effect("5xx robots.txt disallows everything for a while, then is fetched again (TestClock)", () =>
    Effect.gen(function*() {
      let robotsUp = false
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") {
          if (robotsUp) res.end("User-agent: *\nAllow: /\n")
          else res.writeHead(503).end()
        } else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ robots: true, robotsErrorTtlMillis: 60_000, throttle: { enabled: false, backoffFloorMillis: 0 } })
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("down.test", "/p")))
      expect(error._tag === "RobotsDisallowed" && error.rule).toBe("unreachable")
      robotsUp = true
      const still = yield* Effect.flip(fetcher.fetchPage(server.url("down.test", "/p")))
      expect(still._tag).toBe("RobotsDisallowed")
      expect(server.count("/robots.txt")).toBe(1)
      yield* TestClock.adjust(61_000)
      const ok = yield* fetcher.fetchPage(server.url("down.test", "/p"))
      expect(ok.status).toBe(200)
      expect(server.count("/robots.txt")).toBe(2)
      expect(server.count("/p")).toBe(1)
    }))
})
