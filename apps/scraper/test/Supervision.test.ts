/**
 * The supervision tree at work: a stage that dies of a defect restarts (logged)
 * and the run ends with exact counts; a defect loop exceeds the intensity and
 * stops the run cleanly (aborted, one line, exit 6); the store writer holds
 * its outcomes through a transient outage and writes them once, and gives up
 * past the budget.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fetcher } from "@trawl/fetch"
import { Model, Store, StoreError } from "@trawl/store"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { Errors, Extractor, Monitor, Notifier, Pipeline } from "../src/index.ts"
import { startShop } from "./fixtures-shop.ts"

const shop = Effect.acquireRelease(Effect.promise(startShop), (s) => Effect.promise(s.close))

const tempDb = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "trawl-tree-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "tree.db")))

/** Log lines (message and pretty cause) collected by a test logger. */
const collectLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ cause, logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    lines.push(`${logLevel} ${text}${cause.reasons.length > 0 ? ` ${Cause.pretty(cause)}` : ""}`)
  })
  return { lines, layer: Logger.layer([logger]) }
}

/** The local extractor, dying (a defect, not a typed error) on the pages `dies` picks. */
const dyingExtractor = (dies: (url: string) => boolean) =>
  Layer.effect(
    Extractor.Extractor,
    Effect.map(Extractor.Extractor, (local) => ({
      ...local,
      extract: (request: Extractor.ExtractRequest) =>
        dies(request.url) ? Effect.die(new Error(`injected defect on ${request.url}`)) : local.extract(request)
    }))
  ).pipe(Layer.provide(Extractor.layerLocal))

const runOnce = (
  db: string,
  port: number,
  targets: number,
  extractor: Layer.Layer<Extractor.Extractor>,
  notifiers: ReadonlyArray<Notifier.Notifier> = []
) =>
  Effect.gen(function*() {
    const store = yield* Store.Store
    yield* store.addTargets(
      Array.from({ length: targets }, (_, i) => new Model.NewTarget({ url: `http://s${i % 4}.shop.test:${port}/p/${i}`, intervalMillis: 60_000 }))
    )
    const exit = yield* Effect.exit(Monitor.run({
      once: true,
      notifiers,
      fetchFibers: 8,
      tty: false,
      handleSignals: false,
      print: () => {}
    }))
    const counts = yield* store.statusCounts(Date.now())
    return { exit, observations: counts.observations }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(
      Store.layerSqlite({ filename: db }),
      Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostMinDelayMillis: 0, robots: false }),
      extractor
    ))
  )

describe("the supervision tree", () => {
  it.live("a message that kills its stage twice is recorded as a Defect error, and the run goes on", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const db = yield* tempDb
      const extractor = dyingExtractor((url) => url.endsWith("/p/5"))
      const { exit, observations } = yield* runOnce(db, port, 20, extractor)
      assert.isTrue(exit._tag === "Success", String(exit))
      assert.strictEqual(observations, 20)
      const file = new DatabaseSync(db, { readOnly: true })
      const errors = file.prepare("SELECT error_tag FROM observations WHERE error_tag IS NOT NULL").all()
      file.close()
      assert.deepStrictEqual(errors.map((row) => row["error_tag"]), ["Defect"])
    }).pipe(Effect.provide(Logger.layer([]))), 30_000)

  it.live("a stage that dies of a defect restarts, logged with its cause, and the run records every target exactly once", () => {
    const logs = collectLogs()
    return Effect.gen(function*() {
      const { port } = yield* shop
      const db = yield* tempDb
      // the first visit of /p/7 dies inside the extraction stage; the page is handled again after the restart
      let died = 0
      const extractor = dyingExtractor((url) => url.endsWith("/p/7") && died++ === 0)
      const { exit, observations } = yield* runOnce(db, port, 40, extractor)
      assert.isTrue(exit._tag === "Success", String(exit))
      assert.strictEqual(died, 2, "the failed page was handled again")
      assert.strictEqual(observations, 40, "every target recorded exactly once")
      const restart = logs.lines.find((line) => line.includes(`restarts actor "extraction"`))
      assert.isDefined(restart, logs.lines.join("\n"))
      assert.include(restart!, "injected defect on")
    }).pipe(Effect.provide(logs.layer))
  }, 30_000)

  it.live("a defect loop exceeds the restart intensity: the run stops cleanly, recorded aborted, one line, exit 6", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const db = yield* tempDb
      // every page dies: each message restarts the stage once before it counts as poison, a loop
      const extractor = dyingExtractor(() => true)
      const alerts = `${db}.alerts.jsonl`
      const alertsFile = yield* Notifier.jsonlFile(alerts)
      const started = Date.now()
      const { exit } = yield* runOnce(db, port, 40, extractor, [alertsFile])
      // the outbox is flushed from the monitor (its actors went down with the tree): no wait for a deadline
      assert.isBelow(Date.now() - started, 25_000)
      assert.isTrue(exit._tag === "Failure")
      const { exitCode, message } = Errors.describe((exit as { readonly cause: Cause.Cause<unknown> }).cause)
      assert.strictEqual(exitCode, 6)
      assert.notInclude(message, "\n")
      assert.include(message, `actor "extraction" died`)
      assert.include(message, "injected defect on")
      const file = new DatabaseSync(db, { readOnly: true })
      const runs = file.prepare("SELECT status FROM runs").all()
      file.close()
      assert.deepStrictEqual(runs.map((row) => row["status"]), ["aborted"])
    }).pipe(Effect.provide(Logger.layer([]))), 60_000)
})

describe("the store writer", () => {
  const targets = (port: number, n: number): Array<Pipeline.Target> =>
    Array.from({ length: n }, (_, i) => ({ id: i, host: `w${i % 3}.shop.test`, url: `http://w${i % 3}.shop.test:${port}/p/${i}`, intervalMillis: 60_000 }))
  const layers = Layer.merge(
    Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostMinDelayMillis: 0, robots: false }),
    Extractor.layerLocal
  )
  const locked = new StoreError.DatabaseLocked({ database: "test.db", detail: "database is locked" })

  it.live("holds its outcomes through a transient outage and writes each exactly once when the store is back", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const written = new Map<number, number>()
      let attempts = 0
      const outageEnds = Date.now() + 1_500
      const writer: Pipeline.Writer<StoreError.DatabaseLocked> = {
        record: (batch) =>
          Effect.suspend(() => {
            attempts++
            if (Date.now() < outageEnds) return Effect.fail(locked)
            for (const outcome of batch) written.set(outcome.target.id, (written.get(outcome.target.id) ?? 0) + 1)
            return Effect.void
          }),
        isTransient: StoreError.isTransient
      }
      const running = yield* Pipeline.start(targets(port, 30), writer, { once: true, fetchFibers: 8, batchWindowMillis: 0 })
      yield* Effect.sleep("500 millis")
      const during = yield* running.counters
      assert.isDefined(during.storeUnavailableSince, "the status says the store is unavailable")
      yield* running.done.pipe(Effect.timeout("20 seconds"))
      assert.isAbove(attempts, 2, "retried")
      assert.strictEqual(written.size, 30)
      assert.isTrue([...written.values()].every((n) => n === 1), "nothing written twice")
      assert.isUndefined((yield* running.counters).storeUnavailableSince)
    }).pipe(Effect.provide(layers), Effect.provide(Logger.layer([]))), 30_000)

  it.live("an outage past the budget fails the run with StoreUnavailable (exit 4); an error retrying cannot fix fails it at once", () =>
    Effect.gen(function*() {
      const { port } = yield* shop
      const forever: Pipeline.Writer<StoreError.DatabaseLocked> = { record: () => Effect.fail(locked), isTransient: StoreError.isTransient }
      const running = yield* Pipeline.start(targets(port, 3), forever, { once: true, outageBudgetMillis: 800 })
      const error = yield* Effect.flip(running.done.pipe(Effect.timeout("20 seconds")))
      assert.strictEqual(error._tag, "StoreUnavailable")
      assert.strictEqual(Errors.describe(Cause.fail(error)).exitCode, 4)
      assert.include(error.message, "database is locked")

      let calls = 0
      const corrupt = new StoreError.DatabaseCorrupt({ database: "test.db", detail: "file is not a database" })
      const fatal: Pipeline.Writer<StoreError.DatabaseCorrupt> = {
        record: () => Effect.suspend(() => (calls++, Effect.fail(corrupt))),
        isTransient: StoreError.isTransient
      }
      const second = yield* Pipeline.start(targets(port, 3), fatal, { once: true })
      const failed = yield* Effect.flip(second.done.pipe(Effect.timeout("20 seconds")))
      assert.strictEqual(failed._tag, "DatabaseCorrupt")
      assert.strictEqual(calls, 1, "not retried")
    }).pipe(Effect.provide(layers), Effect.provide(Logger.layer([]))), 30_000)
})
