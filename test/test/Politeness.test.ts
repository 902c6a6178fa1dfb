/**
 * Injected transient errors and the per-host politeness counters of a real
 * sim-web process.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Http from "node:http"
import { SimWeb, Truth } from "@trawl/harness"
import * as Client from "./support/http.ts"
import { findProduct, run, startShared } from "./support/sim.ts"

const epochMillis = Date.UTC(2026, 0, 1, 0, 0, 30)
let shared: Awaited<ReturnType<typeof startShared>>
let web: SimWeb.SimWeb

beforeAll(async () => {
  shared = await startShared({ shops: 60, seed: 8, hostileFraction: 0, errorScale: 10, latencyScale: 1, epochMillis })
  web = shared.web
})
afterAll(() => shared?.close())

const shops = () => Array.from({ length: web.world.shops }, (_, s) => Truth.shop(web.world, s))

describe("transient errors", () => {
  it("503, 429 + Retry-After and resets, never twice in a row for one URL", async () => {
    const shop = shops().filter((s) => s.errorRate > 0).sort((a, b) => a.latencyMedianMillis - b.latencyMedianMillis)[0]!
    const at = (await run(web.clock)).nowMillis
    const truth = findProduct(web, (t) => t.shop === shop.index && !t.outlet, at)!
    const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
    const outcomes: Array<string> = []
    for (let i = 0; i < 40; i++) {
      const response = await Client.get(web.port, truth.host, truth.path, {}, { agent }).catch((error: unknown) => {
        expect(String(error)).toMatch(/ECONNRESET|socket hang up/)
        return undefined
      })
      outcomes.push(response === undefined ? "reset" : String(response.status))
      if (response?.status === 429) expect(response.headers["retry-after"]).toBe("1")
      if (response?.status === 200) expect(Client.text(response)).toContain(`${truth.price}`)
    }
    agent.destroy()
    const failures = outcomes.map((outcome) => outcome !== "200")
    expect(failures.filter(Boolean).length).toBeGreaterThan(0)
    for (let i = 1; i < failures.length; i++) expect(failures[i - 1]! && failures[i]!, outcomes.join(",")).toBe(false)
    expect(new Set(outcomes)).toEqual(new Set(["200", "503", "429", "reset"]))
    const stats = await run(web.stats({ host: truth.host }))
    expect(stats.hosts[truth.host]!.injectedErrors).toBe(failures.filter(Boolean).length)
    expect(stats.hosts[truth.host]!.requests).toBe(40)
  })

  it("never three injected failures in a row on one host, across its URLs", async () => {
    const shop = shops().filter((s) => s.errorRate > 0).sort((a, b) => a.latencyMedianMillis - b.latencyMedianMillis)[1]!
    const at = (await run(web.clock)).nowMillis
    const paths = Array.from({ length: web.world.products }, (_, p) => Truth.productAt(web.world, shop.index, p, at))
      .filter((t) => !t.outlet)
      .map((t) => t.path)
    const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
    const failed: Array<boolean> = []
    for (let i = 0; i < 60; i++) {
      const response = await Client.get(web.port, shop.host, paths[i % paths.length]!, {}, { agent }).catch(() => undefined)
      failed.push(response?.status !== 200)
    }
    agent.destroy()
    const runs = failed.map((_, i) => (failed[i] && failed[i - 1] && failed[i - 2] ? 1 : 0)).reduce<number>((a, b) => a + b, 0)
    expect(failed.filter(Boolean).length).toBeGreaterThan(5)
    expect(runs).toBe(0)
  })

  it("a shop without an error rate never fails", async () => {
    const shop = shops().filter((s) => s.errorRate === 0).sort((a, b) => a.latencyMedianMillis - b.latencyMedianMillis)[0]!
    const truth = findProduct(web, (t) => t.shop === shop.index && !t.outlet, (await run(web.clock)).nowMillis)!
    for (let i = 0; i < 10; i++) expect((await Client.get(web.port, truth.host, truth.path)).status).toBe(200)
  })
})

describe("politeness counters", () => {
  it("count concurrent requests and connections per host", async () => {
    const shop = shops().find((s) => s.latencyMedianMillis >= 40 && s.index > 0)!
    const requests = Array.from({ length: 4 }, () => Client.get(web.port, shop.host, "/", {}, { agent: false }))
    for (const response of await Promise.all(requests)) expect(response.status).toBe(200)
    const stats = await run(web.stats({ host: shop.host }))
    const host = stats.hosts[shop.host]!
    expect(host.requests).toBe(4)
    expect(host.maxInFlight).toBe(4)
    expect(host.maxConnections).toBe(4)
    expect(host.inFlight).toBe(0)
    expect(stats.totals.maxInFlightPerHost).toBeGreaterThanOrEqual(4)
    const top = await run(web.stats({ top: 1 }))
    expect(Object.values(top.hosts)).toHaveLength(1)
    expect(Object.values(top.hosts)[0]!.maxInFlight).toBe(top.totals.maxInFlightPerHost)
    expect((await fetch(`${web.url}/__stats?top=-1`)).status).toBe(400)
  })

  it("see one request at a time from a polite client, with the gaps between them", async () => {
    const shop = shops().find((s) => s.latencyMedianMillis < 40 && s.errorRate === 0)!
    const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; i < 5; i++) {
      await Client.get(web.port, shop.host, "/robots.txt", {}, { agent })
      await new Promise((resolve) => setTimeout(resolve, 30))
    }
    agent.destroy()
    const host = (await run(web.stats({ host: shop.host }))).hosts[shop.host]!
    expect(host.requests).toBe(5)
    expect(host.maxInFlight).toBe(1)
    expect(host.maxConnections).toBe(1)
    expect(host.minGapMillis).toBeGreaterThanOrEqual(30)
    expect(host.maxRequestsPerSecond).toBeGreaterThanOrEqual(1)
    expect(host.maxRequestsPerSecond).toBeLessThanOrEqual(5)
  })

  it("count requests for robots-disallowed paths, and reset", async () => {
    const truth = findProduct(web, (t) => t.outlet, (await run(web.clock)).nowMillis)!
    const response = await Client.get(web.port, truth.host, truth.path)
    expect([200, 503, 429]).toContain(response.status)
    const stats = await run(web.stats())
    expect(stats.hosts[truth.host]!.disallowedRequests).toBe(1)
    expect(stats.totals.disallowedRequests).toBe(1)
    expect(stats.totals.requests).toBeGreaterThan(1)
    await run(web.resetStats)
    const after = await run(web.stats())
    expect(after.totals.requests).toBe(0)
    expect(after.totals.disallowedRequests).toBe(0)
  })
})
