/**
 * A continuous run's refresher: it reads every target again only when the
 * store's targets revision moved, and then takes targets added, changed and
 * disabled meanwhile (here by the same store; `trawl add` in another process
 * moves the same revision); a store that is away fails refreshes, logged, and
 * the next one after it answers again catches up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fetcher } from "@trawl/fetch"
import { Model, Store, StoreError } from "@trawl/store"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Extractor, Monitor } from "../src/index.ts"
import { startShop } from "./fixtures-shop.ts"

const shop = Effect.acquireRelease(Effect.promise(startShop), (s) => Effect.promise(s.close))

const tempDb = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "trawl-refresh-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "refresh.db")))

/** Polls `condition` every 20 ms for at most `millis`. */
const eventually = (condition: () => boolean, millis = 5_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!condition() && Date.now() < deadline) yield* Effect.sleep("20 millis")
    return condition()
  })

describe("the refresher", () => {
  it.live("reads every target only when the targets revision moved, takes added, changed and disabled targets, and rides out a store away", () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ cause, message }) => {
      lines.push(`${(Array.isArray(message) ? message : [message]).map(String).join(" ")}${cause.reasons.length > 0 ? ` ${Cause.pretty(cause)}` : ""}`)
    })
    let fullReads = 0
    // while true, the refresher's reads fail as a locked database does (transient)
    let away = false
    const locked = new StoreError.DatabaseLocked({ database: "refresh.db", detail: "database is locked" })
    return Effect.gen(function*() {
      const { port, requests } = yield* shop
      const db = yield* tempDb
      const counted = Layer.effect(
        Store.Store,
        Effect.map(Store.Store, (store): Store.Service => ({
          ...store,
          targetsRevision: Effect.suspend(() => away ? Effect.fail(locked) : store.targetsRevision),
          // the refresher's read of every target (StoreAdapter.allTargets)
          dueTargets: (options) => {
            if (options.limit >= 1_000_000) fullReads++
            return store.dueTargets(options)
          }
        }))
      ).pipe(Layer.provide(Store.layerSqlite({ filename: db })))
      yield* Effect.gen(function*() {
        const store = yield* Store.Store
        const url = (n: number) => `http://r${n}.shop.test:${port}/p/${n}`
        const [first, second] = [
          yield* store.addTarget(new Model.NewTarget({ url: url(1), intervalMillis: 60_000 })),
          yield* store.addTarget(new Model.NewTarget({ url: url(2), intervalMillis: 60_000 }))
        ]
        const run = yield* Effect.forkChild(Monitor.run({
          once: false,
          notifiers: [],
          fetchFibers: 4,
          tty: false,
          handleSignals: false,
          print: () => {},
          refreshEveryMillis: 100,
          durationMillis: 6_000
        }))
        assert.isTrue(yield* eventually(() => requests() >= 2), "both targets visited")
        // ten refreshes with nothing changed: not one more read of every target
        yield* Effect.sleep("1 second")
        assert.strictEqual(fullReads, 1, "only the run's own read at start")

        const third = yield* store.addTarget(new Model.NewTarget({ url: url(3), intervalMillis: 60_000 }))
        assert.isTrue(yield* eventually(() => requests() >= 3), "the added target visited")
        assert.isTrue(yield* eventually(() => lines.some((l) => l.includes("targets refreshed: 1 scheduled, 0 changed, 0 left"))), lines.join("\n"))
        assert.strictEqual(fullReads, 2)

        yield* store.updateTarget(first.id, { intervalMillis: 120_000, rules: { selector: ".price" } })
        assert.isTrue(yield* eventually(() => lines.some((l) => l.includes("0 scheduled, 1 changed, 0 left"))), lines.join("\n"))
        yield* store.setEnabled(second.id, false)
        assert.isTrue(yield* eventually(() => lines.some((l) => l.includes("0 scheduled, 0 changed, 1 left the schedule"))), lines.join("\n"))
        assert.strictEqual(fullReads, 4)
        // the store away for a second (ten refreshes fail, each logged): the refresher goes on, and a target
        // added meanwhile is scheduled once it answers again
        const refreshed = () => lines.filter((l) => l.includes("targets refreshed")).length
        const refreshedBefore = refreshed()
        away = true
        yield* store.addTarget(new Model.NewTarget({ url: url(4), intervalMillis: 60_000 }))
        yield* Effect.sleep("1 second")
        assert.isAtLeast(lines.filter((l) => l.includes("refreshing the targets failed; retrying at the next refresh")).length, 5)
        assert.strictEqual(refreshed(), refreshedBefore, "nothing refreshed while the store is away")
        const visitsBefore = requests()
        away = false
        assert.isTrue(yield* eventually(() => requests() > visitsBefore), "the target added while the store was away is visited")
        assert.strictEqual(refreshed(), refreshedBefore + 1)
        const summary = yield* Fiber.join(run)
        assert.strictEqual(summary.stoppedBy, "duration")
        assert.strictEqual(third.enabled, true)
      }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(
        counted,
        Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostMinDelayMillis: 0, robots: false }),
        Extractor.layerLocal
      )))
    }).pipe(Effect.provide(Logger.layer([logger])))
  }, 30_000)
})
