/**
 * Host actors hold politeness before the fetch: a slow host (Crawl-delay)
 * never holds a fetch slot that fast hosts could use, and the per-host limit
 * and start spacing hold at the server whatever the mix (property test).
 */
import { assert, describe, it } from "@effect/vitest"
import { Fetcher, Reservation } from "@trawl/fetch"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import fc from "fast-check"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Extractor, Pipeline } from "../src/index.ts"

interface Arrival {
  readonly host: string
  readonly at: number
  readonly inFlight: number
}

/** Pages on any `*.shop.test` host; robots.txt of `slow-*` hosts asks for a Crawl-delay. */
const server = (options: { readonly crawlDelaySeconds: number; readonly delayMillis: number }) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ port: number; arrivals: Array<Arrival>; close: () => Promise<void> }>((resolve) => {
        const arrivals: Array<Arrival> = []
        const inFlight = new Map<string, number>()
        const s = http.createServer((req, res) => {
          const host = String(req.headers.host).split(":")[0]!
          if (req.url === "/robots.txt") {
            return void (host.startsWith("slow-")
              ? res.writeHead(200, { "content-type": "text/plain" }).end(`User-agent: *\nCrawl-delay: ${options.crawlDelaySeconds}\n`)
              : res.writeHead(404).end())
          }
          const now = (inFlight.get(host) ?? 0) + 1
          inFlight.set(host, now)
          arrivals.push({ host, at: performance.now(), inFlight: now })
          setTimeout(() => {
            inFlight.set(host, inFlight.get(host)! - 1)
            res.writeHead(200, { "content-type": "text/html" }).end(
              `<script type="application/ld+json">{"@type":"Product","name":"x","offers":{"price":"1.00","priceCurrency":"EUR"}}</script>`
            )
          }, options.delayMillis)
        })
        s.listen(0, "127.0.0.1", () =>
          resolve({
            port: (s.address() as AddressInfo).port,
            arrivals,
            close: () => new Promise((done) => {
              s.closeAllConnections()
              s.close(() => done())
            })
          }))
      })
    ),
    (s) => Effect.promise(s.close)
  )

const targetsOn = (port: number, hosts: ReadonlyArray<string>, perHost: number): Array<Pipeline.Target> =>
  hosts.flatMap((host, h) =>
    Array.from({ length: perHost }, (_, i) => ({
      id: h * perHost + i,
      host,
      url: `http://${host}:${port}/p/${h * perHost + i}`,
      intervalMillis: 3_600_000
    }))
  )

const recorder = () => {
  const recordedAt = new Map<number, number>()
  const writer: Pipeline.Writer<never> = {
    record: (batch) => Effect.sync(() => {
      for (const outcome of batch) recordedAt.set(outcome.target.id, performance.now())
    })
  }
  return { recordedAt, writer }
}

describe("host actors", () => {
  it.live("a slow host (Crawl-delay 2 s) holds no fetch slot: fast hosts run at full speed beside it", () =>
    Effect.gen(function*() {
      const { port } = yield* server({ crawlDelaySeconds: 2, delayMillis: 5 })
      const slow = ["slow-1.shop.test", "slow-2.shop.test", "slow-3.shop.test", "slow-4.shop.test"]
      const fast = Array.from({ length: 20 }, (_, i) => `fast-${i}.shop.test`)
      // slow hosts first: their targets are the first due, and there are only 4 fetch slots
      const targets = [...targetsOn(port, slow, 3), ...targetsOn(port, fast, 3).map((t) => ({ ...t, id: t.id + 1000 }))]
      const { recordedAt, writer } = recorder()
      const started = performance.now()
      const running = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 4, batchWindowMillis: 0 })
      yield* running.done.pipe(Effect.timeout("30 seconds"))
      const fastDone = Math.max(...targets.filter((t) => t.id >= 1000).map((t) => recordedAt.get(t.id)!)) - started
      const slowDone = Math.max(...targets.filter((t) => t.id < 1000).map((t) => recordedAt.get(t.id)!)) - started
      assert.strictEqual(recordedAt.size, targets.length)
      // 60 fast pages on 4 slots take well under a second; waiting in gates they would take the slow hosts' 4 s
      assert.isBelow(fastDone, 1_500, `fast hosts done after ${Math.round(fastDone)} ms`)
      assert.isAtLeast(slowDone, 3_900, `slow hosts kept their Crawl-delay (done after ${Math.round(slowDone)} ms)`)
    }).pipe(
      Effect.provide(Layer.merge(
        Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostMinDelayMillis: 0, throttle: { enabled: false } }),
        Extractor.layerLocal
      )),
      Effect.provide(Logger.layer([]))
    ), 30_000)

  it.live("the per-host limit and the start spacing hold at the server, whatever the mix of hosts (property)", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 0, max: 60 }),
          fc.integer({ min: 2, max: 5 }),
          fc.integer({ min: 2, max: 8 }),
          (perHost, spacing, hostCount, targetsPerHost) => {
            const startsOf = new Map<string, Array<number>>()
            /** The fetcher, with the time of every start its gate hands out, by host. */
            const recordingStarts = <E>(layer: Layer.Layer<Fetcher.Fetcher, E>) =>
              Layer.effect(
                Fetcher.Fetcher,
                Effect.gen(function*() {
                  const fetcher = yield* Fetcher.Fetcher
                  return Fetcher.Fetcher.of({
                    ...fetcher,
                    reserve: (host) =>
                      Effect.tap(fetcher.reserve(host), (answer) =>
                        Effect.sync(() => {
                          if (!Reservation.isReservation(answer)) return
                          const starts = startsOf.get(host) ?? []
                          starts.push(performance.now())
                          startsOf.set(host, starts)
                        }))
                  })
                })
              ).pipe(Layer.provide(layer))
            return Effect.runPromise(Effect.gen(function*() {
              const { arrivals, port } = yield* server({ crawlDelaySeconds: 0, delayMillis: 30 })
              const hosts = Array.from({ length: hostCount }, (_, i) => `h${i}.shop.test`)
              const targets = targetsOn(port, hosts, targetsPerHost)
              const { writer } = recorder()
              const running = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 8, batchWindowMillis: 0 })
              yield* running.done.pipe(Effect.timeout("30 seconds"))
              assert.strictEqual(arrivals.length, targets.length)
              for (const host of hosts) {
                const mine = arrivals.filter((a) => a.host === host)
                assert.isAtMost(Math.max(...mine.map((a) => a.inFlight)), perHost, `${host}: in flight at once`)
                // Spacing is between starts, so it is checked where a start is taken: at the server a
                // request held up on its way (a new connection on a loaded machine) arrives late, and
                // the next, on a kept-alive one, right behind it. Every request the server saw came
                // from one of these starts (as many starts as arrivals; nothing is retried here).
                const starts = startsOf.get(host) ?? []
                assert.strictEqual(starts.length, mine.length, `${host}: one start per request`)
                for (let i = 1; i < starts.length; i++) {
                  // the gate's clock counts whole milliseconds
                  assert.isAtLeast(starts[i]! - starts[i - 1]!, spacing - 1, `${host}: starts ${i - 1} and ${i}`)
                }
              }
            }).pipe(
              Effect.scoped,
              Effect.provide(Layer.merge(
                recordingStarts(Fetcher.layer({
                  resolve: { "*.shop.test": "127.0.0.1" },
                  allowRanges: ["loopback"],
                  robots: false,
                  perHostConcurrency: perHost,
                  perHostMinDelayMillis: spacing,
                  throttle: { enabled: false }
                })),
                Extractor.layerLocal
              )),
              Effect.provide(Logger.layer([]))
            ))
          }
        ),
        { numRuns: 8 }
      )
    ), 120_000)

  it.live("a pass's tail: slow servers end it within 1.5x the timeout after the last healthy page, each with its typed error", () =>
    Effect.gen(function*() {
      const timeoutMillis = 1_000
      // never-*: takes the connection, never answers (robots.txt included); stall-*: robots.txt, then
      // a page's head and no body; trickle-*: a byte of body every 100 ms; the rest answer at once.
      const sockets = new Set<import("node:net").Socket>()
      const s = http.createServer((req, res) => {
        const host = String(req.headers.host).split(":")[0]!
        if (host.startsWith("never-")) return
        if (req.url === "/robots.txt") return void res.writeHead(404).end()
        if (host.startsWith("stall-")) return void res.writeHead(200, { "content-type": "text/html" }).write("<html>")
        if (host.startsWith("trickle-")) {
          res.writeHead(200, { "content-type": "text/html" })
          const timer = setInterval(() => res.write("<"), 100)
          return void res.on("close", () => clearInterval(timer))
        }
        res.writeHead(200, { "content-type": "text/html" }).end(
          `<script type="application/ld+json">{"@type":"Product","name":"x","offers":{"price":"1.00","priceCurrency":"EUR"}}</script>`
        )
      })
      s.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy()
          s.close(() => resolve())
        }))
      )
      const port = (s.address() as AddressInfo).port
      const slow = ["never-1.shop.test", "stall-1.shop.test", "trickle-1.shop.test"]
      const healthy = Array.from({ length: 10 }, (_, i) => `ok-${i}.shop.test`)
      const targets = [...targetsOn(port, slow, 5), ...targetsOn(port, healthy, 3).map((t) => ({ ...t, id: t.id + 1000 }))]
      const outcomes = new Map<number, { readonly at: number; readonly error: string | undefined }>()
      const writer: Pipeline.Writer<never> = {
        record: (batch) => Effect.sync(() => {
          for (const outcome of batch) outcomes.set(outcome.target.id, { at: performance.now(), error: outcome.error?.tag })
        })
      }
      const running = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 16, batchWindowMillis: 0 })
      yield* running.done.pipe(Effect.timeout("60 seconds"))
      const ended = performance.now()
      assert.strictEqual(outcomes.size, targets.length)
      const lastHealthy = Math.max(...targets.filter((t) => t.id >= 1000).map((t) => outcomes.get(t.id)!.at))
      for (const t of targets.filter((t) => t.id >= 1000)) assert.strictEqual(outcomes.get(t.id)!.error, undefined, t.url)
      for (const t of targets.filter((t) => t.id < 1000)) {
        assert.include(["Timeout", "CircuitOpen", "RobotsUnavailable", "RobotsDisallowed"], outcomes.get(t.id)!.error, t.url)
      }
      // each slow host's first visits fail by their own timeout, the rest at once
      for (const host of slow) {
        const errors = targets.filter((t) => t.host === host).map((t) => outcomes.get(t.id)!.error)
        assert.isAtLeast(errors.filter((e) => e !== "CircuitOpen").length, 1, `${host}: ${errors.join(", ")}`)
      }
      assert.isAtMost(ended - lastHealthy, 1.5 * timeoutMillis, `the pass ended ${Math.round(ended - lastHealthy)} ms after its last healthy page`)
    }).pipe(
      Effect.provide(Layer.merge(
        Fetcher.layer({
          resolve: { "*.shop.test": "127.0.0.1" },
          allowRanges: ["loopback"],
          perHostMinDelayMillis: 0,
          throttle: { enabled: false },
          headersTimeoutMillis: 500,
          totalTimeoutMillis: 1_000
        }),
        Extractor.layerLocal
      )),
      Effect.provide(Logger.layer([]))
    ), 60_000)

  it.live("a host's visits in a pass share one kept-alive connection, whatever the targets' order", () =>
    Effect.gen(function*() {
      const perHost = new Map<string, number>()
      const s = http.createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
        if (req.url === "/robots.txt") return void res.writeHead(200, { "content-type": "text/plain" }).end("User-agent: *\nAllow: /\n")
        res.writeHead(200, { "content-type": "text/html" }).end(
          `<script type="application/ld+json">{"@type":"Product","name":"x","offers":{"price":"1.00","priceCurrency":"EUR"}}</script>`
        )
      })
      s.on("connection", (socket) => {
        socket.once("data", (head) => {
          const host = /\r\nhost: ([^:\r]+)/i.exec(head.toString("latin1"))?.[1] ?? "?"
          perHost.set(host, (perHost.get(host) ?? 0) + 1)
        })
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => {
          s.closeAllConnections()
          s.close(() => resolve())
        }))
      )
      const port = (s.address() as AddressInfo).port
      const hosts = Array.from({ length: 30 }, (_, i) => `keep-${i}.shop.test`)
      // page-major order: every host's first page, then every host's second, …
      const byHost = targetsOn(port, hosts, 4)
      const targets = [0, 1, 2, 3].flatMap((page) => byHost.filter((_, i) => i % 4 === page))
      const { recordedAt, writer } = recorder()
      const running = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 16, batchWindowMillis: 0 })
      yield* running.done.pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(recordedAt.size, targets.length)
      assert.deepStrictEqual([...perHost.keys()].sort(), [...hosts].sort())
      // robots.txt and four pages 250 ms apart: one connection each
      for (const [host, connections] of perHost) assert.strictEqual(connections, 1, host)
    }).pipe(
      Effect.provide(Layer.merge(
        Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostConcurrency: 2 }),
        Extractor.layerLocal
      )),
      Effect.provide(Logger.layer([]))
    ), 30_000)
})
