import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { Fetcher, Reservation } from "@trawl/fetch"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

/** Real time passes (I/O happens) while the TestClock stands still. */
const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

/** Waits (in real time, up to 5 s) until `condition` holds. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let waited = 0; !condition() && waited < 5_000; waited += 10) yield* realSleep(10)
    expect(condition()).toBe(true)
  })

const page = (_req: unknown, res: { end: (body: string) => void }) => res.end("<html>ok</html>")

/** A server whose responses wait until `open()` (or `openAll()`) lets them through, in arrival order. */
const heldServer = Effect.gen(function*() {
  const held: Array<() => void> = []
  const server = yield* TestServer.start((req, res) => {
    if (req.url === "/robots.txt") res.writeHead(404).end()
    else held.push(() => res.end("<html>ok</html>"))
  })
  return {
    server,
    held,
    open: () => held.shift()?.(),
    openAll: () => {
      for (const end of held.splice(0)) end()
    }
  }
})

const reserved = (answer: Reservation.Reservation | Reservation.Refusal): Reservation.Reservation => {
  if (!Reservation.isReservation(answer)) throw new Error(`expected a reservation, got ${JSON.stringify(answer)}`)
  return answer
}

describe("reserve", () => {
  it.live("prepare fetches robots.txt once and its Crawl-delay spaces the host's reservations from the first", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") res.writeHead(200, { "content-type": "text/plain" }).end("User-agent: *\nCrawl-delay: 5\n")
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ robots: true })
      const url = server.url("delay.test", "/p")
      yield* fetcher.prepare(url)
      yield* fetcher.prepare(url)
      expect(server.count("/robots.txt")).toBe(1)
      const first = reserved(yield* fetcher.reserve("delay.test"))
      const page = yield* fetcher.fetchPage(url, { reservation: first })
      expect(page.status).toBe(200)
      const now = yield* Clock.currentTimeMillis
      const next = yield* fetcher.reserve("delay.test")
      if (Reservation.isReservation(next) || next._tag !== "NotBefore") throw new Error(`expected NotBefore, got ${JSON.stringify(next)}`)
      expect(next.reason).toBe("spacing")
      expect(next.at - now).toBeGreaterThan(4_000)
      // an invalid URL, or robots off: nothing to do, no failure
      yield* fetcher.prepare("not a url")
    }))

  it.live("respects the per-host limit: Busy while all permits are taken, a start once one ends", () =>
    Effect.gen(function*() {
      const { held, open, openAll, server } = yield* heldServer
      const fetcher = yield* makeFetcher({ perHostConcurrency: 2 })
      const one = yield* Effect.forkChild(fetcher.fetchPage(server.url("busy.test", "/1")))
      const two = yield* Effect.forkChild(fetcher.fetchPage(server.url("busy.test", "/2")))
      yield* eventually(() => held.length === 2)
      expect(yield* fetcher.reserve("busy.test")).toEqual({ _tag: "Busy" })
      // Other hosts are not concerned.
      yield* Reservation.release(reserved(yield* fetcher.reserve("other.test")))
      open()
      yield* Fiber.join(one)
      const reservation = reserved(yield* fetcher.reserve("busy.test"))
      expect(reservation.host).toBe("busy.test")
      // The reservation holds the permit: the host is full again.
      expect(yield* fetcher.reserve("busy.test")).toEqual({ _tag: "Busy" })
      yield* Reservation.release(reservation)
      yield* Reservation.release(reservation) // idempotent: no second permit appears
      const again = reserved(yield* fetcher.reserve("busy.test"))
      expect(yield* fetcher.reserve("busy.test")).toEqual({ _tag: "Busy" })
      yield* Reservation.release(again)
      openAll()
      yield* Fiber.join(two)
    }))

  it.effect("spacing: NotBefore at the host's next allowed start, then a start (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ perHostMinDelayMillis: 1_000, perHostConcurrency: 2 })
      const t0 = yield* Clock.currentTimeMillis
      const first = reserved(yield* fetcher.reserve("spaced.test"))
      expect(yield* fetcher.reserve("spaced.test")).toEqual({ _tag: "NotBefore", at: t0 + 1_000, reason: "spacing" })
      // The reserved call starts at once (the TestClock does not move).
      const page1 = yield* fetcher.fetchPage(server.url("spaced.test", "/1"), { reservation: first })
      expect(page1.status).toBe(200)
      expect(yield* fetcher.reserve("spaced.test")).toEqual({ _tag: "NotBefore", at: t0 + 1_000, reason: "spacing" })
      yield* TestClock.adjust(999)
      expect(yield* fetcher.reserve("spaced.test")).toEqual({ _tag: "NotBefore", at: t0 + 1_000, reason: "spacing" })
      yield* TestClock.adjust(1)
      const second = reserved(yield* fetcher.reserve("spaced.test"))
      yield* fetcher.fetchPage(server.url("spaced.test", "/2"), { reservation: second })
      // An ordinary call's start spaces the next reservation too: one gate.
      yield* TestClock.adjust(1_000)
      yield* fetcher.fetchPage(server.url("spaced.test", "/3"))
      expect(yield* fetcher.reserve("spaced.test")).toEqual({ _tag: "NotBefore", at: t0 + 3_000, reason: "spacing" })
      expect(server.seen.map((seen) => seen.path)).toEqual(["/1", "/2", "/3"])
    }))

  it.effect("spacing includes robots Crawl-delay (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") res.end("User-agent: *\nCrawl-delay: 5\n")
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ robots: true })
      const t0 = yield* Clock.currentTimeMillis
      // The first call fetches robots.txt, then the page, which teaches the gate the Crawl-delay.
      yield* fetcher.fetchPage(server.url("crawl.test", "/a"))
      expect(yield* fetcher.reserve("crawl.test")).toEqual({ _tag: "NotBefore", at: t0 + 5_000, reason: "spacing" })
      yield* TestClock.adjust(5_000)
      const reservation = reserved(yield* fetcher.reserve("crawl.test"))
      yield* fetcher.fetchPage(server.url("crawl.test", "/b"), { reservation })
      expect(yield* fetcher.reserve("crawl.test")).toEqual({ _tag: "NotBefore", at: t0 + 10_000, reason: "spacing" })
      expect(server.seen.map((seen) => seen.path)).toEqual(["/robots.txt", "/a", "/b"])
    }))

  it.effect("a Retry-After pushes the next start: NotBefore then (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => {
        res.writeHead(429, { "retry-after": "30" }).end()
      })
      const fetcher = yield* makeFetcher({ maxRetries: 0 })
      const t0 = yield* Clock.currentTimeMillis
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("limited.test", "/")))
      expect(error._tag).toBe("HttpStatus")
      expect(yield* fetcher.reserve("limited.test")).toEqual({ _tag: "NotBefore", at: t0 + 30_000, reason: "spacing" })
      yield* TestClock.adjust(30_000)
      yield* Reservation.release(reserved(yield* fetcher.reserve("limited.test")))
    }))

  it.effect("hostStates counts the hosts held back: a Retry-After (throttled), an open circuit, and neither once they pass (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.headers.host?.startsWith("limited.test")) res.writeHead(429, { "retry-after": "30" }).end()
        else if (req.headers.host?.startsWith("sick.test")) res.writeHead(502).end()
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ maxRetries: 0, circuitFailureThreshold: 2, circuitCooldownMillis: 10_000 })
      yield* fetcher.fetchPage(server.url("fine.test", "/"))
      expect(yield* fetcher.hostStates).toEqual({ held: 1, throttled: 0, circuitOpen: 0 })
      yield* Effect.flip(fetcher.fetchPage(server.url("limited.test", "/")))
      for (let i = 0; i < 2; i++) yield* Effect.flip(fetcher.fetchPage(server.url("sick.test", "/")))
      const held = yield* fetcher.hostStates
      expect(held.held).toBe(3)
      expect(held.circuitOpen).toBe(1)
      // the 429 slows limited.test (throttle, Retry-After); a 502 is a failure, not a slow-down
      expect(held.throttled).toBe(1)
      yield* TestClock.adjust(10_000)
      // the circuit is still open (not closed) until its probe succeeds
      expect((yield* fetcher.hostStates).circuitOpen).toBe(1)
    }))

  it.effect("an open circuit: NotBefore at its reopening (reason circuit); one reservation takes the probe (TestClock)", () =>
    Effect.gen(function*() {
      let healthy = false
      const server = yield* TestServer.start((_req, res) => {
        if (healthy) res.end("<html>ok</html>")
        else res.writeHead(502).end()
      })
      const fetcher = yield* makeFetcher({ maxRetries: 0, circuitFailureThreshold: 2, circuitCooldownMillis: 10_000 })
      const url = server.url("sick.test", "/")
      const t0 = yield* Clock.currentTimeMillis
      for (let i = 0; i < 2; i++) yield* Effect.flip(fetcher.fetchPage(url))
      expect(yield* fetcher.reserve("sick.test")).toEqual({ _tag: "NotBefore", at: t0 + 10_000, reason: "circuit" })
      yield* TestClock.adjust(10_000)
      const probe = reserved(yield* fetcher.reserve("sick.test"))
      // The probe is out: nobody else gets a start, reserved or not.
      expect(yield* fetcher.reserve("sick.test")).toEqual({ _tag: "Busy" })
      expect((yield* Effect.flip(fetcher.fetchPage(url)))._tag).toBe("CircuitOpen")
      // Given back unused, the probe is free for the next reservation.
      yield* Reservation.release(probe)
      const probe2 = reserved(yield* fetcher.reserve("sick.test"))
      expect(yield* fetcher.reserve("sick.test")).toEqual({ _tag: "Busy" })
      healthy = true
      const ok = yield* fetcher.fetchPage(url, { reservation: probe2 })
      expect(ok.status).toBe(200)
      // The probe succeeded: closed, and both permits are free.
      const a = reserved(yield* fetcher.reserve("sick.test"))
      const b = reserved(yield* fetcher.reserve("sick.test"))
      yield* Reservation.release(a)
      yield* Reservation.release(b)
      expect(server.seen.length).toBe(3)
    }))
})

describe("fetchPage with a reservation", () => {
  it.live("does not wait for the spacing while an ordinary call on the spaced host does", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ perHostMinDelayMillis: 300 })
      const reservation = reserved(yield* fetcher.reserve("spaced.test"))
      const fast = yield* fetcher.fetchPage(server.url("spaced.test", "/r"), { reservation })
      expect(fast.timings.queuedMillis).toBeLessThan(50)
      const slow = yield* fetcher.fetchPage(server.url("spaced.test", "/n"))
      expect(slow.timings.queuedMillis).toBeGreaterThan(200)
      expect(Reservation.isHeld(reservation)).toBe(false)
    }))

  it.live("is given back when interrupted before its request starts (waiting for the global permit)", () =>
    Effect.gen(function*() {
      const { held, openAll, server } = yield* heldServer
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1, globalConcurrency: 1 })
      const blocker = yield* Effect.forkChild(fetcher.fetchPage(server.url("blocker.test", "/")))
      yield* eventually(() => held.length === 1)
      const reservation = reserved(yield* fetcher.reserve("waiting.test"))
      const call = yield* Effect.forkChild(fetcher.fetchPage(server.url("waiting.test", "/"), { reservation }))
      yield* realSleep(50)
      expect(Reservation.isHeld(reservation)).toBe(false) // the call has it
      expect(yield* fetcher.reserve("waiting.test")).toEqual({ _tag: "Busy" })
      yield* Fiber.interrupt(call)
      yield* Reservation.release(reserved(yield* fetcher.reserve("waiting.test")))
      openAll()
      yield* Fiber.join(blocker)
      expect(server.count("/")).toBe(1)
    }))

  it.live("is given back when interrupted during the exchange", () =>
    Effect.gen(function*() {
      const { held, server } = yield* heldServer
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1 })
      const reservation = reserved(yield* fetcher.reserve("slow.test"))
      const call = yield* Effect.forkChild(fetcher.fetchPage(server.url("slow.test", "/"), { reservation }))
      yield* eventually(() => held.length === 1)
      expect(yield* fetcher.reserve("slow.test")).toEqual({ _tag: "Busy" })
      yield* Fiber.interrupt(call)
      yield* Reservation.release(reserved(yield* fetcher.reserve("slow.test")))
    }))

  it.live("a fork interrupted before its first step never ran: the reservation is still held, release gives it back", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1 })
      const reservation = reserved(yield* fetcher.reserve("never.test"))
      const call = yield* Effect.forkChild(fetcher.fetchPage(server.url("never.test", "/"), { reservation }))
      yield* Fiber.interrupt(call)
      expect(Reservation.isHeld(reservation)).toBe(true)
      yield* Reservation.release(reservation)
      yield* Reservation.release(reserved(yield* fetcher.reserve("never.test")))
      // With startImmediately the call has the reservation before the fork returns.
      const second = reserved(yield* fetcher.reserve("never.test"))
      const started = yield* Effect.forkChild(fetcher.fetchPage(server.url("never.test", "/"), { reservation: second }), {
        startImmediately: true
      })
      yield* Fiber.interrupt(started)
      expect(Reservation.isHeld(second)).toBe(false)
      yield* Reservation.release(reserved(yield* fetcher.reserve("never.test")))
    }))

  it.effect("a reservation for host A used for a URL on host B is given back; B goes through its gate (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1, perHostMinDelayMillis: 10_000 })
      const t0 = yield* Clock.currentTimeMillis
      const forA = reserved(yield* fetcher.reserve("a.test"))
      const onB = yield* fetcher.fetchPage(server.url("b.test", "/"), { reservation: forA })
      expect(onB.status).toBe(200)
      // B's gate admitted the start (its spacing runs); A's permit and slot are free again.
      expect(yield* fetcher.reserve("b.test")).toEqual({ _tag: "NotBefore", at: t0 + 10_000, reason: "spacing" })
      yield* Reservation.release(reserved(yield* fetcher.reserve("a.test")))
    }))

  it.live("robots.txt refusing the URL gives the reservation back; an uncached robots.txt takes the start", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") res.end("User-agent: *\nDisallow: /private\n")
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ robots: true, perHostConcurrency: 1 })
      // Not cached yet: given back (the robots.txt request needs the host's only permit), then
      // robots.txt and the page go through the gate.
      const first = reserved(yield* fetcher.reserve("bots.test"))
      const ok = yield* fetcher.fetchPage(server.url("bots.test", "/public"), { reservation: first })
      expect(ok.status).toBe(200)
      expect(server.seen.map((seen) => seen.path)).toEqual(["/robots.txt", "/public"])
      const second = reserved(yield* fetcher.reserve("bots.test"))
      const refused = yield* Effect.flip(fetcher.fetchPage(server.url("bots.test", "/private"), { reservation: second }))
      expect(refused._tag).toBe("RobotsDisallowed")
      yield* Reservation.release(reserved(yield* fetcher.reserve("bots.test")))
      // Cached now: a reservation is used as it is.
      const third = reserved(yield* fetcher.reserve("bots.test"))
      const page2 = yield* fetcher.fetchPage(server.url("bots.test", "/public2"), { reservation: third })
      expect(page2.timings.queuedMillis).toBeLessThan(50)
    }))

  it.live("a reservation is used once: a second call with it goes through the gate, no permit is made up", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start(page)
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1 })
      const reservation = reserved(yield* fetcher.reserve("once.test"))
      yield* fetcher.fetchPage(server.url("once.test", "/1"), { reservation })
      yield* fetcher.fetchPage(server.url("once.test", "/2"), { reservation })
      yield* Reservation.release(reservation) // a no-op: the first call took it
      const next = reserved(yield* fetcher.reserve("once.test"))
      expect(yield* fetcher.reserve("once.test")).toEqual({ _tag: "Busy" })
      yield* Reservation.release(next)
    }))

  it.live("retries go through the gate", () =>
    Effect.gen(function*() {
      let calls = 0
      const server = yield* TestServer.start((_req, res) => {
        calls++
        if (calls === 1) res.writeHead(502).end()
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ perHostMinDelayMillis: 200, retryBaseMillis: 1, retryMaxDelayMillis: 1 })
      const reservation = reserved(yield* fetcher.reserve("retry.test"))
      const started = Date.now()
      const ok = yield* fetcher.fetchPage(server.url("retry.test", "/"), { reservation })
      expect(ok.timings.attempts).toBe(2)
      // The retry waited for the host's spacing (200 ms from the reserved start).
      expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    }))

  it.live("a redirect hop goes through the gate", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/old") res.writeHead(301, { location: "/new" }).end()
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ perHostMinDelayMillis: 200 })
      const reservation = reserved(yield* fetcher.reserve("moved.test"))
      const started = Date.now()
      const moved = yield* fetcher.fetchPage(server.url("moved.test", "/old"), { reservation })
      expect(moved.redirects.map((redirect) => redirect.status)).toEqual([301])
      expect(Date.now() - started).toBeGreaterThanOrEqual(190)
      expect(moved.timings.queuedMillis).toBeGreaterThanOrEqual(150)
    }))
})

describe("one gate for reserved and ordinary calls", () => {
  it.live("mixing reserved and ordinary calls on a host never exceeds the per-host limit nor the spacing (fast-check)", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({
            reserved: fc.boolean(),
            holdMillis: fc.integer({ min: 0, max: 30 }),
            handOffMillis: fc.integer({ min: 0, max: 5 })
          }), {
            minLength: 2,
            maxLength: 6
          }),
          fc.integer({ min: 1, max: 3 }),
          (calls, perHostConcurrency) =>
            Effect.runPromise(Effect.scoped(Effect.gen(function*() {
              const spacing = 40
              const arrivals: Array<number> = []
              const holds = new Map(calls.map((call, i) => [`/${i}`, call.holdMillis]))
              const server = yield* TestServer.start((req, res) => {
                arrivals.push(performance.now())
                setTimeout(() => res.end("<html>ok</html>"), holds.get(req.url ?? "") ?? 0)
              })
              const fetcher = yield* makeFetcher({ perHostConcurrency, perHostMinDelayMillis: spacing })
              // As a host actor does: reserve, then hand the reservation to a fetch fiber a little later.
              const reserveAndFetch = (url: string, handOffMillis: number): Effect.Effect<unknown, unknown> =>
                Effect.flatMap(fetcher.reserve("mix.test"), (answer) => {
                  if (Reservation.isReservation(answer)) {
                    return Effect.andThen(Effect.sleep(handOffMillis), fetcher.fetchPage(url, { reservation: answer }))
                  }
                  return Effect.flatMap(Clock.currentTimeMillis, (now) =>
                    Effect.andThen(
                      Effect.sleep(answer._tag === "NotBefore" ? Math.max(1, answer.at - now) : 5),
                      Effect.suspend(() => reserveAndFetch(url, handOffMillis))
                    ))
                })
              yield* Effect.forEach(
                calls,
                (call, i) => {
                  const url = server.url("mix.test", `/${i}`)
                  return call.reserved ? reserveAndFetch(url, call.handOffMillis) : fetcher.fetchPage(url)
                },
                { concurrency: "unbounded", discard: true }
              )
              expect(arrivals.length).toBe(calls.length)
              expect(server.maxConcurrent.get("mix.test")).toBeLessThanOrEqual(perHostConcurrency)
              // Start spacing, as the server saw it (a little slack for scheduling on a busy machine).
              for (let i = 1; i < arrivals.length; i++) {
                expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(spacing - 15)
              }
            })) as Effect.Effect<void, unknown>)
        ),
        { numRuns: 12 }
      )
    )
  , 60_000)
})

describe("a host is the hostname, without the port", () => {
  it.live("two ports of one hostname share the gate; robots.txt stays per origin", () =>
    Effect.gen(function*() {
      const one = yield* heldServer
      const robotsA: Array<string> = []
      const other = yield* TestServer.start((req, res) => {
        if (req.url === "/robots.txt") robotsA.push(req.url)
        res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1, robots: true })
      yield* fetcher.fetchPage(other.url("shared.test", "/warm"))
      const first = yield* Effect.forkChild(fetcher.fetchPage(one.server.url("shared.test", "/a")))
      yield* eventually(() => one.held.length === 1)
      expect(one.server.count("/robots.txt")).toBe(1)
      // The other port of the same hostname waits for the host's one permit.
      expect(yield* fetcher.reserve("shared.test")).toEqual({ _tag: "Busy" })
      const second = yield* Effect.forkChild(fetcher.fetchPage(other.url("shared.test", "/b")))
      yield* realSleep(100)
      expect(other.count("/b")).toBe(0)
      one.openAll()
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(other.count("/b")).toBe(1)
      expect(robotsA.length).toBe(1)
      expect(yield* fetcher.hostCount).toBe(1)
    }))
})

// Keeps the public types in view: a Fetcher.Service is what the host actors call.
export type _Service = Fetcher.Service
