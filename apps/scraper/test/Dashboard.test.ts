/**
 * The dashboard over real HTTP on loopback: pages, live events, Prometheus
 * metrics, escaping, the token, and the server's life with its scope.
 */
import { assert, describe, it } from "@effect/vitest"
import { Model, Store } from "@trawl/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Dashboard, type Progress } from "../src/index.ts"

const hostile = "<img src=x onerror=alert(1)>"

const snapshotAt = (recorded: number): Progress.Snapshot => ({
  now: 5_000 + recorded,
  workerUtilization: 0.5,
  workerCrashes: 3,
  hosts: { held: 20, throttled: 4, circuitOpen: 1 },
  restarts: 2,
  counters: {
    fetched: recorded, notModified: 2, extracted: recorded, recorded, errorsByTag: { Timeout: 1, [hostile]: 2 },
    inFlightFetches: 3, queueDepths: { jobs: 1, pages: 0, outcomes: 7 },
    queueCapacities: { jobs: 1024, pages: 64, outcomes: 1024 }, startedAt: 0
  },
  schedule: { targets: 20, inFlight: 3, overdue: 0, lagP50Millis: 10, lagP99Millis: 20, dispatched: 13 }
})

/** A snapshot that moves on at every reading, as a run's does. */
const moving = () => {
  let recorded = 10
  return Effect.sync(() => snapshotAt(recorded += 5))
}

const get = (url: string, init?: RequestInit) => Effect.promise(() => fetch(url, { redirect: "manual", ...init }))
const text = (url: string, init?: RequestInit) => Effect.flatMap(get(url, init), (r) => Effect.promise(() => r.text()))

/** Reads Server-Sent Events from `url` until `count` events arrived (bounded by the test's timeout). */
const readEvents = (url: string, count: number, init?: RequestInit) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const response = await fetch(url, { ...init, signal: controller.signal })
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    const events: Array<{ event: string; data: string }> = []
    let buffered = ""
    while (events.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buffered += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const block = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message"
        const data = block.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n")
        events.push({ event, data })
      }
    }
    controller.abort()
    return { status: response.status, contentType: response.headers.get("content-type"), events }
  })

/**
 * A parser of the Prometheus text exposition format (version 0.0.4), for
 * what the test asserts: every sample belongs to a metric with one TYPE
 * line, and each histogram's buckets are cumulative up to `+Inf` = count.
 */
const parseExposition = (body: string) => {
  const types = new Map<string, string>()
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = []
  for (const line of body.split("\n")) {
    if (line === "") continue
    const typeLine = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (typeLine) {
      assert.isFalse(types.has(typeLine[1]!), `one TYPE line for ${typeLine[1]}`)
      types.set(typeLine[1]!, typeLine[2]!)
      continue
    }
    if (line.startsWith("#")) continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.isNotNull(sample, `a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (sample![2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!
    const value = sample![3] === "+Inf" ? Infinity : Number(sample![3])
    assert.isFalse(Number.isNaN(value), `a number: ${line}`)
    samples.push({ name: sample![1]!, labels, value })
  }
  for (const { name } of samples) {
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "")
    assert.isTrue(types.has(family), `${name} has a TYPE line`)
  }
  return { types, samples }
}

describe("Dashboard", () => {
  it.live("serves the page, its assets and the status on loopback, with a CSP and no inline script, and closes with its scope", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const { port, url } = yield* Dashboard.serve(moving(), { port: 0 })
        assert.strictEqual(url, `http://127.0.0.1:${port}/`)
        const json = yield* Effect.flatMap(get(`${url}status.json`), (r) => Effect.promise(() => r.json() as Promise<Progress.Snapshot>))
        assert.isAbove(json.counters.recorded, 10)
        const page = yield* get(url)
        assert.strictEqual(page.status, 200)
        const csp = page.headers.get("content-security-policy") ?? ""
        assert.include(csp, "script-src 'self'")
        assert.notInclude(csp, "unsafe-inline")
        const html = yield* Effect.promise(() => page.text())
        assert.include(html, "pages/s")
        // the figures drawn on the server, before the script's first event
        assert.include(html, `<span class="value" id="extractCrashes">3</span>`)
        assert.include(html, `<span class="value" id="hostsThrottled">4</span>`)
        assert.include(html, `<span class="value" id="restarts">2</span>`)
        // every script is a file of its own
        assert.deepStrictEqual([...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]), [""])
        const script = yield* get(`${url}assets/dashboard.js`)
        assert.strictEqual(script.status, 200)
        assert.match(script.headers.get("content-type") ?? "", /javascript/)
        assert.include(yield* Effect.promise(() => script.text()), "EventSource")
        assert.strictEqual((yield* get(`${url}nope`)).status, 404)
        return port
      }))
      const refused = yield* Effect.promise(() =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect(port, "127.0.0.1")
          socket.on("connect", () => (socket.destroy(), resolve(false)))
          socket.on("error", () => resolve(true))
        }))
      assert.isTrue(refused, "the server is closed")
    }))

  it.live("every value on the page is escaped: a hostile error tag shows as text", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* Dashboard.serve(moving(), { port: 0 })
      const html = yield* text(url)
      assert.include(html, "&lt;img src=x onerror=alert(1)&gt;")
      assert.notInclude(html, hostile)
      assert.strictEqual(Dashboard.escapeHtml(`"'&<>`), "&quot;&#39;&amp;&lt;&gt;")
    })))

  it.live("/events pushes the live figures about once a second, and they change between two reads", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* Dashboard.serve(moving(), { port: 0, everyMillis: 200 })
      const started = performance.now()
      const { contentType, events, status } = yield* readEvents(`${url}events`, 3)
      const took = performance.now() - started
      assert.strictEqual(status, 200)
      assert.match(contentType ?? "", /^text\/event-stream/)
      assert.deepStrictEqual(events.map((e) => e.event), ["live", "live", "live"])
      const figures = events.map((e) => JSON.parse(e.data) as Dashboard.Live)
      assert.isBelow(figures[0]!.recorded, figures[2]!.recorded)
      assert.deepStrictEqual(figures[0]!.queues, [
        { name: "fetch", depth: 1, capacity: 1024 },
        { name: "extraction", depth: 0, capacity: 64 },
        { name: "store-writer", depth: 7, capacity: 1024 }
      ])
      assert.strictEqual(figures[0]!.extractCpu, 0.5)
      assert.strictEqual(figures[0]!.errorsByTag[hostile], 2)
      assert.strictEqual(figures[0]!.hostsThrottled, 4)
      assert.strictEqual(figures[0]!.hostsCircuitOpen, 1)
      assert.strictEqual(figures[0]!.restarts, 2)
      assert.strictEqual(figures[0]!.extractCrashes, 3)
      // no store given: no notifier figures
      assert.isNull(figures[0]!.notifiers)
      // three events 200 ms apart (the first at once)
      assert.isAtLeast(took, 350)
    })))

  it.live("streams open at once share one sampler: five clients cost one snapshot a tick, not five", () =>
    Effect.scoped(Effect.gen(function*() {
      let snapshots = 0
      const counted = Effect.sync(() => snapshotAt(10 + 5 * ++snapshots))
      const { url } = yield* Dashboard.serve(counted, { port: 0, everyMillis: 200 })
      const readings = yield* Effect.all(Array.from({ length: 5 }, () => readEvents(`${url}events`, 4)), { concurrency: "unbounded" })
      for (const { events } of readings) assert.strictEqual(events.length, 4)
      // every client saw ticks of the one sampler: the same recorded counts, from the same few readings
      const seen = new Set(readings.flatMap(({ events }) => events.map((e) => (JSON.parse(e.data) as Dashboard.Live).recorded)))
      assert.isAtMost(snapshots, 8, `${snapshots} snapshots for 5 clients × 4 events`)
      assert.isAtMost(seen.size, snapshots)
    })))

  it.live("an event stream open when the dashboard's scope closes ends, and nothing keeps the server", () =>
    Effect.gen(function*() {
      const reading = yield* Effect.scoped(Effect.gen(function*() {
        const { url } = yield* Dashboard.serve(moving(), { port: 0, everyMillis: 100 })
        const response = yield* Effect.promise(() => fetch(`${url}events`))
        const reader = response.body!.getReader()
        yield* Effect.promise(() => reader.read())
        // every read after the first, until the stream ends (or the test's bound)
        return Effect.promise(async () => {
          const until = Date.now() + 10_000
          while (Date.now() < until) {
            const { done } = await reader.read().catch(() => ({ done: true }))
            if (done) return true
          }
          return false
        })
      }))
      assert.isTrue(yield* reading, "the client's stream ended with the server")
    }))

  it.live("without a run the live panels say so", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* Dashboard.serve(undefined, { port: 0, everyMillis: 100 })
      assert.include(yield* text(url), "no run")
      const { events } = yield* readEvents(`${url}events`, 1)
      assert.strictEqual(JSON.parse(events[0]!.data).status, "no run")
    })))

  it.live("the alerts pending per notifier come from the store: a delivery lowers one notifier's count, not the other's", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-dashboard-"))),
        (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
      )
      const context = yield* Layer.build(Store.layerSqlite({ filename: path.join(dir, "d.db"), thread: "main" }))
      const store = Context.get(context, Store.Store)
      const target = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/kettle", intervalMillis: 60_000, dueAt: 0 }))
      for (const [n, amount] of ["20.00", "18.00", "19.00"].entries()) {
        yield* store.recordObservations([
          new Model.ObservationInput({
            targetId: target.id, observedAt: 1_000 * (n + 1), outcome: "ok", price: new Model.Money({ amount, currency: "EUR" }),
            availability: "in_stock", httpStatus: 200, source: "json-ld", productName: hostile
          })
        ])
      }
      yield* store.registerNotifiers(["stdout", "webhook http://127.0.0.1:9/x"])
      yield* store.deliver("stdout", () => Effect.void, { limit: 1 })
      const expected = (yield* store.notifierStatus()).map(({ delivered, lastError, name, pending }) => ({ name, pending, delivered, lastError }))
      // three alerts (the first price, a drop, a rise); stdout delivered one
      assert.deepStrictEqual(expected.map((n) => n.pending), [2, 3])
      const { url } = yield* Dashboard.serve(moving(), { port: 0, everyMillis: 100, store })
      const { events } = yield* readEvents(`${url}events`, 1)
      assert.deepStrictEqual((JSON.parse(events[0]!.data) as Dashboard.Live).notifiers, expected)
      const html = yield* text(url)
      assert.include(html, "<td>webhook http://127.0.0.1:9/x</td><td>3</td><td>0</td>")
    })))

  it.live("/metrics is every metric in Prometheus' text format: TYPE lines, histogram buckets cumulative to +Inf = count", () =>
    Effect.scoped(Effect.gen(function*() {
      const counter = Metric.counter("trawl_test_dashboard_pages_total", { description: "pages seen by the test", incremental: true })
      const histogram = Metric.histogram("trawl_test_dashboard_latency_ms", {
        description: "latencies seen by the test",
        boundaries: [10, 100, 1000]
      })
      yield* Metric.update(counter, 3)
      for (const value of [5, 50, 50, 500, 5000]) yield* Metric.update(histogram, value)
      const { url } = yield* Dashboard.serve(moving(), { port: 0 })
      const response = yield* get(`${url}metrics`)
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain/)
      const { samples, types } = parseExposition(yield* Effect.promise(() => response.text()))
      assert.strictEqual(types.get("trawl_test_dashboard_pages_total"), "counter")
      assert.strictEqual(samples.find((s) => s.name === "trawl_test_dashboard_pages_total")?.value, 3)
      assert.strictEqual(types.get("trawl_test_dashboard_latency_ms"), "histogram")
      const buckets = samples.filter((s) => s.name === "trawl_test_dashboard_latency_ms_bucket")
      assert.deepStrictEqual(buckets.map((b) => b.labels["le"]), ["10", "100", "1000", "+Inf"])
      assert.deepStrictEqual(buckets.map((b) => b.value), [1, 3, 4, 5])
      const count = samples.find((s) => s.name === "trawl_test_dashboard_latency_ms_count")?.value
      assert.strictEqual(count, buckets.at(-1)!.value)
      // trawl's own metrics are there too (the fetcher's, registered when its module loads)
      assert.isTrue([...types.keys()].some((name) => name.startsWith("trawl_")))
    })))

  it.live("with a token, every request without it is refused (page, assets, events, status, metrics); the header or the cookie it sets passes", () =>
    Effect.scoped(Effect.gen(function*() {
      const token = "s3cret-token"
      const { url } = yield* Dashboard.serve(moving(), { port: 0, token, everyMillis: 100 })
      for (const path of ["", "assets/dashboard.js", "events", "status.json", "metrics", "nope"]) {
        const refused = yield* get(`${url}${path}`)
        assert.strictEqual(refused.status, 401, `/${path} without the token`)
        assert.strictEqual((yield* get(`${url}${path}`, { headers: { authorization: "Bearer wrong" } })).status, 401, `/${path} with a wrong token`)
      }
      const bearer = { authorization: `Bearer ${token}` }
      assert.strictEqual((yield* get(url, { headers: bearer })).status, 200)
      assert.strictEqual((yield* get(`${url}metrics`, { headers: bearer })).status, 200)
      assert.strictEqual((yield* readEvents(`${url}events`, 1, { headers: bearer })).events.length, 1)
      // a browser opens /?token=… once: a cookie, and back to /
      const login = yield* get(`${url}?token=${token}`)
      assert.strictEqual(login.status, 303)
      assert.strictEqual(login.headers.get("location"), "/")
      const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!
      assert.include(login.headers.get("set-cookie") ?? "", "HttpOnly")
      assert.strictEqual((yield* get(url, { headers: { cookie } })).status, 200)
      assert.strictEqual((yield* readEvents(`${url}events`, 1, { headers: { cookie } })).events.length, 1)
      assert.strictEqual((yield* get(`${url}?token=wrong`)).status, 401)
    })))

  it.live("an address other than loopback needs a token; a port already taken is a clear InputError", () =>
    Effect.scoped(Effect.gen(function*() {
      const open = yield* Effect.flip(Dashboard.serve(moving(), { port: 0, host: "0.0.0.0" }))
      assert.strictEqual(open._tag, "InputError")
      assert.match(open.message, /needs --dashboard-token/)
      const notAnAddress = yield* Effect.flip(Dashboard.serve(moving(), { port: 0, host: "example.com" }))
      assert.match(notAnAddress.message, /must be an IP address/)
      const { port } = yield* Dashboard.serve(moving(), { port: 0 })
      const taken = yield* Effect.flip(Dashboard.serve(moving(), { port }))
      assert.strictEqual(taken._tag, "InputError")
      assert.match(taken.message, /EADDRINUSE/)
    })))
})
