/**
 * What only the worker-backed client has: a worker that dies under a
 * transaction or a statement, restarts, the `:memory:` database, errors that
 * cross the thread, paged streams, interruption, and a scope that ends the
 * worker. (`SqliteClient.test.ts` runs the common client tests on it too, and
 * the store suites run on it by default.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import * as fs from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import type { Worker } from "node:worker_threads"
import { workerOf } from "../src/internal/testing.ts"
import * as Model from "../src/Model.ts"
import * as SqliteWorkerClient from "../src/SqliteWorkerClient.ts"
import * as Store from "../src/Store.ts"
import * as StoreError from "../src/StoreError.ts"
import { runner, tempFile, total } from "./support/clients.ts"
import { money, ok } from "./support/suite.ts"

const withClient = runner(SqliteWorkerClient.SqliteWorkerClient, SqliteWorkerClient.layer)

/** The client's worker now, through the test seam. */
const workerNow = (sql: SqlClient.SqlClient): Worker => {
  const worker = workerOf.get(sql)?.()
  assert.isDefined(worker, "the client has a live worker")
  return worker!
}

/** Terminates the client's worker, as a crash would end it. */
const kill = (sql: SqlClient.SqlClient) => Effect.asVoid(Effect.promise(() => workerNow(sql).terminate()))

/** Rows for `sql.insert`: n = from, from + 1, … */
const rows = (from: number, count: number) =>
  Array.from({ length: count }, (_, k) => ({ n: from + k })) as unknown as readonly [{ n: number }, ...Array<{ n: number }>]

/** Rows in t, read by a connection of its own (as a reopened database would). */
const countOnDisk = (filename: string) => {
  const db = new DatabaseSync(filename)
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n)
  } finally {
    db.close()
  }
}

const workerExited = (error: SqlError.SqlError) => {
  assert.strictEqual(error.reason._tag, "ConnectionError")
  assert.match(error.message, /the SQLite worker exited/)
}

describe("SqliteWorkerClient", () => {
  it.live("a worker terminated between the statements of a transaction: none of its rows, and the next transaction runs on a fresh worker", () =>
    withClient((sql, filename) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        const first = workerNow(sql)
        const inside = yield* Deferred.make<void>()
        const tx = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          for (let i = 0; i < 10; i++) {
            yield* sql`INSERT INTO t ${sql.insert(rows(i * 100, 100))}`
            if (i === 4) {
              yield* Deferred.succeed(inside, undefined)
              yield* kill(sql)
            }
          }
        })))
        yield* Deferred.await(inside)
        // another fiber waits for the connection meanwhile: it gets the fresh worker, after the transaction
        const outside = yield* Effect.forkChild(total(sql))
        const failed = yield* Fiber.await(tx)
        assert.isTrue(Exit.isFailure(failed))
        const error = Exit.isFailure(failed) ? failed.cause.reasons[0] : undefined
        assert.strictEqual(error?._tag, "Fail", "a typed failure, not a defect")
        workerExited((error as { error: SqlError.SqlError }).error)
        assert.strictEqual(yield* Fiber.join(outside), 0, "nothing of the transaction is visible")
        assert.strictEqual(countOnDisk(filename), 0, "nor on disk")
        assert.notStrictEqual(workerNow(sql), first)
        assert.strictEqual(sql.workersStarted(), 2)

        yield* sql.withTransaction(sql`INSERT INTO t ${sql.insert(rows(0, 100))}`)
        assert.strictEqual(yield* total(sql), 100)
        assert.strictEqual(countOnDisk(filename), 100)
      })))

  it.live("a worker terminated under a running statement: all of it or none (none: it was not committed)", () =>
    withClient((sql, filename) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        const started = yield* Deferred.make<void>()
        const tx = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (-1)`
          yield* Deferred.succeed(started, undefined)
          yield* sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) INSERT INTO t SELECT x FROM c`
        })))
        yield* Deferred.await(started)
        yield* Effect.sleep("30 millis")
        yield* kill(sql)
        const error = yield* Effect.flip(Fiber.join(tx))
        workerExited(error as SqlError.SqlError)
        assert.strictEqual(countOnDisk(filename), 0)
        assert.strictEqual(yield* total(sql), 0)
      })), 60_000)

  it.live("a transaction never continues on another worker: its later statements fail too", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        const statements = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* kill(sql)
          const afterDeath = []
          // even when the caller recovers from each failure
          for (let i = 0; i < 3; i++) afterDeath.push(yield* Effect.flip(sql`INSERT INTO t VALUES (2)`))
          for (const error of afterDeath) workerExited(error)
          return afterDeath
        })).pipe(Effect.flip, Effect.map(() => "the transaction failed"), Effect.orElseSucceed(() => "it committed"))
        assert.strictEqual(statements, "the transaction failed")
        assert.strictEqual(yield* total(sql), 0)
      })))

  it.live("the worker's exit is logged once, as a warning", () =>
    Effect.gen(function*() {
      const logs: Array<{ level: string; message: string }> = []
      const logger = Logger.make(({ logLevel, message }) => {
        logs.push({ level: logLevel, message: Array.isArray(message) ? message.join(" ") : String(message) })
      })
      yield* withClient((sql) =>
        Effect.gen(function*() {
          yield* sql`CREATE TABLE t (n INTEGER)`
          yield* kill(sql)
          yield* Effect.flip(sql.withTransaction(sql`INSERT INTO t VALUES (1)`)).pipe(Effect.ignore)
          yield* total(sql)
          yield* total(sql)
        })).pipe(Effect.provide(Logger.layer([logger])))
      const exits = logs.filter((log) => /SQLite worker exited/.test(log.message))
      assert.deepStrictEqual(exits.map((log) => log.level), ["Warn"])
    }))

  it.live("closing the scope closes the database and ends the worker", () =>
    Effect.gen(function*() {
      let worker: Worker | undefined
      let client: SqlClient.SqlClient | undefined
      const exited = yield* withClient((sql, filename) =>
        Effect.gen(function*() {
          client = sql
          worker = workerNow(sql)
          yield* sql`CREATE TABLE t (n INTEGER)`
          yield* sql`INSERT INTO t VALUES (1)`
          return { exit: new Promise<number>((resolve) => worker!.once("exit", resolve)), filename }
        }))
      yield* Effect.promise(() => exited.exit).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(worker!.threadId, -1, "the thread is gone")
      assert.isUndefined(workerOf.get(client!)?.(), "no worker is started again")
      assert.isFalse(fs.existsSync(`${exited.filename}-wal`), "the database was closed (its WAL checkpointed and removed)")
    }))

  it.live("a :memory: database lives in its worker: one connection; when the worker dies, the client fails, not transient", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        yield* sql`INSERT INTO t VALUES (1)`
        assert.strictEqual(yield* total(sql), 1, "the same connection from one statement to the next")
        yield* kill(sql)
        for (let i = 0; i < 2; i++) {
          const error = yield* Effect.flip(total(sql))
          assert.strictEqual(error.reason._tag, "ConnectionError")
          assert.match(error.message, /:memory: database it held is gone/)
          assert.isFalse(StoreError.isTransient(StoreError.fromSqlError(error, ":memory:", "count")))
        }
        assert.strictEqual(sql.workersStarted(), 1, "no empty database handed out instead")
      }), { filename: ":memory:" }))

  it.live("errors cross the thread with SQLite's message, code, errcode and errstr, and classify as before", () =>
    withClient((sql, filename) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER UNIQUE)`
        yield* sql`INSERT INTO t VALUES (1)`
        const syntax = yield* Effect.flip(sql.unsafe("SELEC nonsense"))
        assert.strictEqual(syntax.reason._tag, "SqlSyntaxError")
        assert.match(syntax.message, /near "SELEC": syntax error/)
        const cause = syntax.reason.cause as { code: string; errcode: number; errstr: string; message: string }
        assert.deepStrictEqual([cause.code, cause.errcode, cause.errstr], ["ERR_SQLITE_ERROR", 1, "SQL logic error"])
        assert.match(cause.message, /near "SELEC": syntax error/)

        const unique = yield* Effect.flip(sql`INSERT INTO t VALUES (1)`)
        assert.strictEqual(unique.reason._tag, "UniqueViolation")
        assert.strictEqual((unique.reason as SqlError.UniqueViolation).constraint, "t.n")
        assert.strictEqual((unique.reason.cause as { errcode: number }).errcode, 2067)

        const other = new DatabaseSync(filename)
        other.exec("BEGIN EXCLUSIVE")
        const locked = yield* Effect.flip(sql.withTransaction(sql`INSERT INTO t VALUES (2)`))
        other.exec("ROLLBACK")
        other.close()
        assert.strictEqual(locked.reason._tag, "LockTimeoutError")
        assert.strictEqual((locked.reason.cause as { errcode: number }).errcode & 0xff, 5)
        assert.match(locked.message, /database is locked/)
        const classified = StoreError.fromSqlError(locked, filename, "write")
        assert.strictEqual(classified._tag, "DatabaseLocked")
        assert.isTrue(StoreError.isTransient(classified))

        // and a dead worker is transient for a file: the next attempt gets a fresh one
        const gone = yield* Effect.flip(sql.withTransaction(Effect.andThen(kill(sql), sql`INSERT INTO t VALUES (3)`)))
        const unavailable = StoreError.fromSqlError(gone, filename, "write")
        assert.strictEqual(unavailable._tag, "DatabaseUnavailable")
        assert.isTrue(StoreError.isTransient(unavailable))
        assert.match(unavailable.message, /the SQLite worker exited/)
      }), { busyTimeout: "100 millis" }))

  it.live("streams page by page: the worker sends a chunk when the stream pulls one", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        yield* sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000) INSERT INTO t SELECT x FROM c`
        const worker = workerNow(sql)
        let replies = 0
        const onMessage = () => replies++
        worker.prependListener("message", onMessage)
        const firstThree = yield* sql<{ n: number }>`SELECT n FROM t ORDER BY n`.stream.pipe(Stream.take(3), Stream.runCollect)
        assert.deepStrictEqual(firstThree.map((row) => row.n), [1, 2, 3])
        assert.strictEqual(replies, 1, "one chunk of 100 rows crossed, not the 10,000")
        replies = 0
        const sum = yield* sql<{ n: number }>`SELECT n FROM t`.stream.pipe(Stream.runFold(() => 0, (acc, row) => acc + row.n))
        assert.strictEqual(sum, 10000 * 10001 / 2)
        assert.strictEqual(replies, 101, "100 chunks of 100, then the end")
        worker.off("message", onMessage)
        assert.strictEqual(yield* total(sql), 10000)
      }), { streamChunkSize: 100 }))

  it.live("a stream whose worker dies fails with the worker's exit", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        yield* sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) INSERT INTO t SELECT x FROM c`
        let seen = 0
        const error = yield* sql<{ n: number }>`SELECT n FROM t`.stream.pipe(
          Stream.mapEffect((row) => (++seen === 150 ? Effect.as(kill(sql), row) : Effect.succeed(row))),
          Stream.runCount,
          Effect.flip
        )
        workerExited(error as SqlError.SqlError)
        assert.isBelow(seen, 1000)
        assert.strictEqual(yield* total(sql), 1000, "the next statement runs on a fresh worker")
      }), { streamChunkSize: 100 }))

  it.live("concurrent transactions serialize: each reads and writes as if alone", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        yield* sql`CREATE TABLE counter (v INTEGER)`
        yield* sql`INSERT INTO counter VALUES (0)`
        yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
          sql.withTransaction(Effect.gen(function*() {
            const [row] = yield* sql<{ v: number }>`SELECT v FROM counter`
            yield* Effect.sleep("2 millis")
            yield* sql`UPDATE counter SET v = ${row!.v + 1}`
            yield* sql`INSERT INTO t VALUES (${i})`
          })), { concurrency: "unbounded", discard: true })
        const [row] = yield* sql<{ v: number }>`SELECT v FROM counter`
        assert.strictEqual(row!.v, 20)
        assert.strictEqual(yield* total(sql), 20)
      })))

  it.live("an interrupted statement lets its caller go at once; in a transaction, the rollback follows it; the connection stays usable", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        const long = sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c`
        const started = performance.now()
        const query = yield* Effect.forkChild(long)
        yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(query)
        const interruptedAfter = performance.now() - started
        assert.strictEqual((yield* total(sql)), 0, "the next statement waits for the worker to finish the long one")
        const longTook = performance.now() - started
        assert.isBelow(interruptedAfter, longTook / 2, `let go at ${interruptedAfter.toFixed(0)} ms, the query ran ${longTook.toFixed(0)} ms`)

        const inside = yield* Deferred.make<void>()
        const tx = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* Deferred.succeed(inside, undefined)
          yield* sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) INSERT INTO t SELECT x FROM c`
        })))
        yield* Deferred.await(inside)
        yield* Effect.sleep("10 millis")
        yield* Fiber.interrupt(tx)
        assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(tx)))
        assert.strictEqual(yield* total(sql), 0, "rolled back")
        yield* sql.withTransaction(sql`INSERT INTO t VALUES (2)`)
        assert.strictEqual(yield* total(sql), 1)
        assert.strictEqual(sql.workersStarted(), 1)
      })), 60_000)

  it.live("requests in flight are bounded: callers that give up on a busy worker leave at most 256 unanswered", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        // the worker is busy with a long query whose caller gave up; so does each caller after it
        const long = yield* Effect.forkChild(
          sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) SELECT count(*) AS n FROM c`
        )
        yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(long)
        let refused: SqlError.SqlError | undefined
        let sent = 0
        for (; sent < 300 && refused === undefined; sent++) {
          const result = yield* Effect.result(Effect.timeout(sql`SELECT ${sent} AS i`, "1 millis"))
          if (result._tag === "Failure" && SqlError.isSqlError(result.failure)) refused = result.failure
        }
        assert.isDefined(refused, "refused before 300")
        assert.strictEqual(sent, 256, "the long query and 255 more in flight")
        assert.match(refused!.message, /256 statements in flight/)
        let again: { i: number } | undefined
        for (let tries = 0; again === undefined && tries < 400; tries++) {
          const result = yield* Effect.result(sql<{ i: number }>`SELECT ${1} AS i`)
          if (result._tag === "Success") again = result.success[0]
          else yield* Effect.sleep("25 millis")
        }
        assert.strictEqual(again!.i, 1, "answered once the worker caught up")
      })), 60_000)

  const built = new URL("../dist/SqliteWorkerClient.js", import.meta.url)
  it.live.skipIf(!fs.existsSync(fileURLToPath(built)))("built (dist/), the client starts its worker from the .js beside it (dist/internal/sqliteWorker.js)", () =>
    Effect.scoped(Effect.gen(function*() {
      const module = yield* Effect.promise(() => import(built.href) as Promise<typeof SqliteWorkerClient>)
      const sql = yield* module.make({ filename: yield* tempFile })
      const [row] = yield* sql<{ v: string }>`SELECT sqlite_version() AS v`
      assert.match(row!.v, /^3\./)
    })).pipe(Effect.provide(Reactivity.layer)))

  it.live("reactive queries re-run after a mutation", () =>
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* SqliteWorkerClient.make({ filename: yield* tempFile })
      const reactivity = yield* Reactivity.Reactivity
      yield* sql`CREATE TABLE t (n INTEGER)`
      const seen = yield* Deferred.make<ReadonlyArray<number>>()
      const counts: Array<number> = []
      const watcher = yield* Effect.forkChild(sql.reactive(["t"], total(sql)).pipe(
        Stream.runForEach((n) => {
          counts.push(n)
          return counts.length === 2 ? Deferred.succeed(seen, counts) : Effect.void
        })
      ))
      yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(counts, [0])
      yield* reactivity.mutation(["t"], sql`INSERT INTO t VALUES (1)`)
      assert.deepStrictEqual(yield* Deferred.await(seen).pipe(Effect.timeout("5 seconds")), [0, 1])
      yield* Fiber.interrupt(watcher)
    })).pipe(Effect.provide(Reactivity.layer)))

  it.live("the store over it: a worker killed mid-batch fails the batch as transient (DatabaseUnavailable), and the retried batch is written once", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = yield* tempFile
      let killNext = false
      let sql: SqlClient.SqlClient | undefined
      yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.Store
          sql = yield* SqlClient.SqlClient
          const { id } = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: 60_000, dueAt: 0 }))
          const batch = [ok(id, 1, money("1.00")), ok(id, 2, money("2.00")), ok(id, 3, money("3.00"))]
          killNext = true
          const error = yield* Effect.flip(store.recordObservations(batch))
          assert.strictEqual(error._tag, "DatabaseUnavailable")
          assert.isTrue(StoreError.isTransient(error))
          assert.strictEqual((yield* store.history(id)).length, 0, "nothing of the batch")
          const results = yield* store.recordObservations(batch)
          assert.deepStrictEqual(results.map((r) => r.inserted), [true, true, true])
          assert.strictEqual((yield* store.history(id)).length, 3)
          assert.strictEqual((yield* store.statusCounts(0)).alertsPending, 3)
        }),
        Store.layerSqlite({
          filename,
          betweenStatements: (step) =>
            killNext && step === "alerts-inserted"
              ? Effect.suspend(() => {
                killNext = false
                return kill(sql!)
              })
              : Effect.void
        })
      )
    })))
})
