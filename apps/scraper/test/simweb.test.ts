import { it } from "@effect/vitest"
import { SimWeb, type Truth } from "@trawl/harness"
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { startReceiver } from "./fixtures-shop.ts"
import { runTrawl } from "./helpers.ts"

interface Row {
  readonly url: string
  readonly observedAt: string
  readonly outcome: string
  readonly amount: string | null
  readonly currency: string | null
  readonly availability: string
  readonly errorTag: string | null
}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-simweb-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

const receiver = Effect.acquireRelease(Effect.promise(startReceiver), (r) => Effect.promise(r.close))

const trawl = (args: ReadonlyArray<string>) => Effect.promise(() => runTrawl(args, { timeoutMillis: 240_000 }))

const exportRows = (db: string) =>
  Effect.map(trawl(["export", "--db", db]), (run) => run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Row))

const SHOPS = 500
const PRODUCTS = 3

describe("trawl run against the harness's sim-web", () => {
  it.live("500 shops × 3 products: --once matches the ground truth; after the clock moves, exactly the expected alerts; hostile shops give typed errors; per-host limit held", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const hook = yield* receiver
      const sim = yield* SimWeb.start({ shops: SHOPS, products: PRODUCTS, seed: 7, hostileFraction: 0.02, errorScale: 0, latencyScale: 0.2 })
      const urls: Array<string> = []
      for (let shop = 0; shop < SHOPS; shop++) for (let product = 0; product < PRODUCTS; product++) urls.push(sim.productUrl(shop, product))
      const targets = path.join(dir, "targets.csv")
      yield* Effect.promise(() => fs.writeFile(targets, ["url,interval", ...urls.map((u) => `${u},5m`)].join("\n")))
      const db = path.join(dir, "sim.db")
      const common = ["--db", db, "--resolve", "*.sim.test=127.0.0.1", "--allow-private", "--timeout", "3s", "--workers", "2", "--webhook", hook.url, "--quiet"]

      const first = yield* trawl(["run", "--once", "--targets", targets, ...common])
      expect(first.stderr).not.toMatch(/\n\s+at /)
      expect(first.code).toBe(0)
      let clock = yield* sim.clock
      const simTime = (wall: number) => clock.nowMillis + (wall - clock.wallMillis) * clock.clockSpeed
      const truthOf = (row: Row) => sim.truthAt(row.url, simTime(Date.parse(row.observedAt)))!

      // a failing shop's later pages may meet its open circuit (the fetcher stops hammering a failing host)
      const agrees = (row: Row, truth: Truth.ProductTruth) =>
        truth.expected._tag === "Price"
          ? row.outcome === "ok" && row.amount === truth.expected.price && row.currency === truth.expected.currency
          : row.outcome === "error" &&
            (row.errorTag === truth.expected.error || row.errorTag === "CircuitOpen")
      const firstRows = yield* exportRows(db)
      expect(firstRows).toHaveLength(urls.length)
      const disagreements = firstRows.filter((row) => !agrees(row, truthOf(row)))
      expect(disagreements).toEqual([])
      // every first sighting was delivered, more than one delivery batch's worth
      const priced = firstRows.filter((row) => row.outcome === "ok").length
      expect(priced).toBeGreaterThan(1000)
      expect(hook.deliveries.filter((d) => d.body.kind === "first_seen")).toHaveLength(priced)
      const hostile = firstRows.filter((row) => truthOf(row).expected._tag === "Error")
      expect(hostile.length).toBeGreaterThan(0)
      expect(hostile.every((row) => row.outcome === "error" && row.errorTag !== null)).toBe(true)

      // move the sim clock by several price steps; compute the alerts a correct monitor must raise
      const before = new Map(firstRows.map((row) => [row.url, truthOf(row)]))
      const alertsBefore = hook.deliveries.length
      clock = yield* sim.advanceClock(sim.world.stepMillis * 3)
      const second = yield* trawl(["run", "--once", "--all", ...common])
      expect(second.code).toBe(0)
      const secondRows = (yield* exportRows(db)).slice(firstRows.length)
      expect(secondRows).toHaveLength(urls.length)
      const expected: Array<string> = []
      const wrong: Array<unknown> = []
      for (const row of secondRows) {
        const now = truthOf(row)
        const was = before.get(row.url)!
        // a 304 is right exactly when the page did not change
        const ok = row.outcome === "unchanged" ? now.version === was.version : agrees(row, now)
        if (!ok) wrong.push({ row, now: now.expected, was: was.expected })
        if (was.expected._tag !== "Price" || now.expected._tag !== "Price") continue
        if (was.expected.price !== now.expected.price) {
          const up = Number(now.expected.price) > Number(was.expected.price)
          expected.push(`${row.url} ${up ? "price_up" : "price_down"}`)
        }
        if (was.expected.availability !== now.expected.availability) {
          expected.push(`${row.url} ${now.expected.availability === "InStock" ? "back_in_stock" : "out_of_stock"}`)
        }
      }
      expect(wrong).toEqual([])
      const notModified = secondRows.filter((row) => row.outcome === "unchanged").length
      expect(notModified).toBeGreaterThan(0)
      const raised = hook.deliveries.slice(alertsBefore).map((d) => `${String(d.body.url)} ${String(d.body.kind)}`)
      expect(expected.length).toBeGreaterThan(0)
      expect(raised.sort()).toEqual(expected.sort())
      expect(new Set(hook.deliveries.map((d) => d.key)).size).toBe(hook.deliveries.length)

      const stats = yield* sim.stats()
      expect(stats.totals.maxInFlightPerHost).toBeLessThanOrEqual(2)
    }), 300_000)
})
