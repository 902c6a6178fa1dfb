/**
 * What only a SQLite file can show: a corrupt file, a lock held by another
 * process, a full disk, and a writer process killed with SIGKILL; with the
 * connection in a worker (the default) and on the main thread.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as SqlClient from "effect/sql/SqlClient"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import * as Model from "../src/Model.ts"
import * as Store from "../src/Store.ts"
import * as StoreError from "../src/StoreError.ts"
import { money, ok } from "./support/suite.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "trawl-store-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit))
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  assert.strictEqual(reason?._tag, "Fail", String(reason))
  return (reason as { error: E }).error
}

const target = new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: 60_000, dueAt: 0 })

for (const thread of ["worker", "main"] as const) describe(`Store on a SQLite file (${thread} thread)`, () => {
  it.live("a file that is not a database is DatabaseCorrupt", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "trawl.db")
      fs.writeFileSync(filename, Buffer.alloc(8192, "not a database "))
      const error = failureOf(yield* Effect.exit(Effect.provide(Effect.void, Store.layerSqlite({ thread, filename }))))
      assert.strictEqual((error as { _tag: string })._tag, "DatabaseCorrupt")
      assert.match((error as Error).message, /trawl\.db is corrupt or not a trawl database \(file is not a database\)/)
      assert.strictEqual(fs.readFileSync(filename, "latin1").slice(0, 15), "not a database ", "left untouched")
    })))

  it.live("damaged pages in a real database are DatabaseCorrupt", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "trawl.db")
      yield* Effect.provide(
        Effect.flatMap(Store.Store, (store) => store.addTarget(target)),
        Store.layerSqlite({ thread, filename })
      )
      // closing checkpointed the WAL into the file: overwrite every page but the header page
      const size = fs.statSync(filename).size
      assert.isAbove(size, 8192)
      const fd = fs.openSync(filename, "r+")
      fs.writeSync(fd, Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096)
      fs.closeSync(fd)
      const error = failureOf(yield* Effect.exit(Effect.provide(Effect.void, Store.layerSqlite({ thread, filename }))))
      assert.strictEqual((error as { _tag: string })._tag, "DatabaseCorrupt")
      assert.match((error as Error).message, /malformed|not a database/)
    })))

  it.live("a lock held by another process is DatabaseLocked, at open and on write", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "trawl.db")
      const other = new DatabaseSync(filename)
      other.exec("PRAGMA journal_mode = WAL; CREATE TABLE keep (x); BEGIN EXCLUSIVE; INSERT INTO keep VALUES (1)")
      const atOpen = failureOf(yield* Effect.exit(Effect.provide(Effect.void, Store.layerSqlite({ thread, filename, busyTimeout: 100 }))))
      assert.strictEqual((atOpen as { _tag: string })._tag, "DatabaseLocked")
      other.exec("COMMIT")

      yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.Store
          other.exec("BEGIN IMMEDIATE")
          const onWrite = yield* Effect.flip(store.addTarget(target))
          assert.strictEqual(onWrite._tag, "DatabaseLocked")
          assert.match(onWrite.message, /locked by another process/)
          other.exec("ROLLBACK")
          const added = yield* store.addTarget(target)
          assert.strictEqual(added.url, target.url)
        }),
        Store.layerSqlite({ thread, filename, busyTimeout: 100 })
      )
      other.close()
    })))

  it.live("a write lock held by another process: DatabaseLocked (transient) after the busy timeout, then the retried batch is written once", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "trawl.db")
      yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.Store
          const sql = yield* SqlClient.SqlClient
          const { id } = yield* store.addTarget(target)
          yield* store.recordObservations([ok(id, 1, money("1.00"))])
          // another process takes the write lock for 1.5 s
          const holder = spawn(process.execPath, [
            "-e",
            `const { DatabaseSync } = require("node:sqlite")
            const db = new DatabaseSync(process.argv[1])
            db.exec("BEGIN IMMEDIATE")
            db.exec("INSERT INTO runs (started_at, status) VALUES (1, 'other')")
            console.log("locked")
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500)
            db.exec("COMMIT")
            db.close()`,
            filename
          ], { stdio: ["ignore", "pipe", "pipe"] })
          const exited = new Promise<number | null>((resolve) => holder.on("exit", resolve))
          yield* Effect.promise(() =>
            new Promise<void>((resolve, reject) => {
              holder.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("locked") && resolve())
              holder.on("exit", (code) => reject(new Error(`lock holder exited (${code}) before locking`)))
            })
          )
          const batch = [ok(id, 2, money("2.00")), ok(id, 3, money("3.00"))]
          const started = Date.now()
          const locked = yield* Effect.flip(store.recordObservations(batch))
          const waited = Date.now() - started
          assert.strictEqual(locked._tag, "DatabaseLocked")
          assert.isTrue(StoreError.isTransient(locked))
          assert.isAtLeast(waited, 250, "it waited for the busy timeout")
          assert.isBelow(waited, 1400, "and no longer: it failed while the lock was still held")
          // the failed transaction left nothing, and the connection is usable
          assert.strictEqual((yield* store.history(id)).length, 1)
          assert.strictEqual(yield* Effect.promise(() => exited), 0)
          const results = yield* store.recordObservations(batch)
          assert.deepStrictEqual(results.map((r) => [r.inserted, r.alerts.map((a) => a.kind)]), [[true, ["price_up"]], [true, ["price_up"]]])
          const again = yield* store.recordObservations(batch)
          assert.deepStrictEqual(again.map((r) => r.inserted), [false, false])
          assert.strictEqual((yield* store.history(id)).length, 3)
          const [alerts] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM alerts`
          assert.strictEqual(Number(alerts!.n), 3)
          const [runs] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM runs WHERE status = 'other'`
          assert.strictEqual(Number(runs!.n), 1, "the other process committed")
          assert.strictEqual((yield* sql<{ integrity_check: string }>`PRAGMA integrity_check`)[0]!.integrity_check, "ok")
        }),
        Store.layerSqlite({ thread, filename, busyTimeout: 300 })
      )
    })), 20_000)

  it.live("a full disk is DiskFull, and the failed batch leaves nothing behind", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "trawl.db")
      yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.Store
          const sql = yield* SqlClient.SqlClient
          const { id } = yield* store.addTarget(target)
          yield* store.recordObservations([ok(id, 1, money("1.00"))])
          const before = yield* store.getTarget(id)
          // SQLite reports a database that reached max_page_count exactly as a full disk (SQLITE_FULL).
          const [{ page_count }] = (yield* sql`PRAGMA page_count`) as unknown as [{ page_count: number }]
          yield* sql.unsafe(`PRAGMA max_page_count = ${page_count + 2}`)
          const big = Array.from({ length: 2000 }, (_, i) => ok(id, 100 + i, money(`${i}.00`), "in_stock", { contentHash: "x".repeat(200) }))
          const full = yield* Effect.flip(store.recordObservations(big))
          assert.strictEqual(full._tag, "DiskFull")
          assert.match(full.message, /disk full/)
          assert.deepStrictEqual(yield* store.getTarget(id), before)
          assert.strictEqual((yield* store.history(id)).length, 1)
          assert.strictEqual((yield* store.statusCounts(0)).alertsPending, 1)
          yield* sql.unsafe(`PRAGMA max_page_count = 1073741823`)
          assert.strictEqual((yield* store.recordObservations(big)).length, 2000)
        }),
        Store.layerSqlite({ thread, filename })
      )
    })))

  it.live("metrics count observations written and alerts raised", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.Store
          const { id } = yield* store.addTarget(target)
          const written = (yield* Metric.value(Store.observationsWritten)).count
          const raised = (yield* Metric.value(Store.alertsRaised)).count
          yield* store.recordObservations([ok(id, 1, money("1")), ok(id, 2, money("2")), ok(id, 3, money("2"))])
          yield* store.recordObservations([ok(id, 3, money("2"))]) // a replay: not written again
          assert.strictEqual((yield* Metric.value(Store.observationsWritten)).count - written, 3)
          assert.strictEqual((yield* Metric.value(Store.alertsRaised)).count - raised, 2)
        }),
        Store.layerSqlite({ thread, filename: path.join(dir, "trawl.db") })
      )
    })))

  it.live("the due-targets query reads the due index, not the table", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.provide(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const plan = yield* sql<{ detail: string }>`EXPLAIN QUERY PLAN SELECT * FROM targets WHERE enabled = 1 AND next_due_at <= ${1} ORDER BY next_due_at, id LIMIT ${10}`
          // one index search, no table scan, no sort
          assert.deepStrictEqual(plan.map((row) => row.detail), ["SEARCH targets USING INDEX targets_due (next_due_at<?)"])
        }),
        Store.layerSqlite({ thread, filename: path.join(dir, "trawl.db") })
      )
    })))

  it.live("a notifier's pending scan starts at its watermark, in the index of unsent alerts, not the history", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.provide(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          // the claim's scan, as Store.deliver runs it
          const plan = yield* sql<{ detail: string }>`EXPLAIN QUERY PLAN SELECT a.id FROM alerts a
            WHERE a.id > ${5} AND a.sent_at IS NULL AND NOT EXISTS (
              SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.notifier = ${"stdout"}
                AND (d.sent_at IS NOT NULL OR d.claimed_until > ${1})
            ) ORDER BY a.id LIMIT ${10}`
          assert.deepStrictEqual(plan.map((row) => row.detail), [
            "SEARCH a USING INDEX alerts_pending (id>?)",
            "CORRELATED SCALAR SUBQUERY 1",
            "SEARCH d USING INDEX sqlite_autoindex_deliveries_1 (alert_id=? AND notifier=?)"
          ])
        }),
        Store.layerSqlite({ thread, filename: path.join(dir, "trawl.db") })
      )
    })))

  it.live("a writer process killed with SIGKILL loses no acknowledged observation and leaves no alert without one", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "trawl.db")
      const script = fileURLToPath(new URL("./support/crash-writer.ts", import.meta.url))
      const acked = yield* Effect.callback<number, Error>((resume) => {
        const child = spawn(process.execPath, ["--conditions=@trawl/source", script, filename, thread], {
          stdio: ["ignore", "pipe", "pipe"]
        })
        let last = -1
        let stderr = ""
        let killed = false
        child.stderr.on("data", (chunk) => (stderr += chunk))
        child.stdout.on("data", (chunk: Buffer) => {
          for (const line of chunk.toString().split("\n")) {
            const match = /^acked (\d+)$/.exec(line)
            if (match) last = Number(match[1])
          }
          if (last >= 20 * 50 && !killed) {
            killed = true
            child.kill("SIGKILL")
          }
        })
        child.on("exit", (_code, signal) =>
          signal === "SIGKILL" ? resume(Effect.succeed(last)) : resume(Effect.fail(new Error(`writer exited: ${stderr}`))))
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
        return Effect.sync(() => {
          clearTimeout(timer)
          child.kill("SIGKILL")
        })
      })
      assert.isAtLeast(acked, 1000)
      yield* Effect.provide(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const [check] = yield* sql<{ integrity_check: string }>`PRAGMA integrity_check`
          assert.strictEqual(check!.integrity_check, "ok")
          const [row] = yield* sql<{ observations: number; alerts: number; top: number }>`SELECT
            (SELECT count(*) FROM observations) AS observations,
            (SELECT count(*) FROM alerts) AS alerts,
            (SELECT max(observed_at) - 1700000000000 FROM observations) AS top`
          assert.isAtLeast(row!.top, acked, "every acknowledged observation survived")
          assert.strictEqual(row!.observations, row!.top + 1, "no gaps: batches are whole")
          assert.strictEqual(row!.alerts, row!.observations, "one alert per observation, no more, no less")
          const orphans = yield* sql`SELECT a.id FROM alerts a LEFT JOIN observations o ON o.id = a.observation_id WHERE o.id IS NULL`
          assert.strictEqual(orphans.length, 0)
        }),
        Store.layerSqlite({ thread, filename })
      )
    })), 60_000)
})
