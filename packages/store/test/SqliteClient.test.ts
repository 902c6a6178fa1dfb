import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import type * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import { DatabaseSync } from "node:sqlite"
import * as Sqlite from "../src/internal/sqlite.ts"
import * as SqliteClient from "../src/SqliteClient.ts"
import * as SqliteWorkerClient from "../src/SqliteWorkerClient.ts"
import { runner, tempFile, total } from "./support/clients.ts"

/** Both SQLite clients pass these tests: on the calling thread, and with the connection in a worker. */
const clients: ReadonlyArray<{
  readonly name: string
  readonly layer: (config: SqliteClient.SqliteClientConfig) => Layer.Layer<SqlClient.SqlClient, SqlError.SqlError>
}> = [
  { name: "SqliteClient", layer: SqliteClient.layer },
  { name: "SqliteWorkerClient", layer: SqliteWorkerClient.layer }
]

for (const client of clients) describe(client.name, () => {
  const withClient = runner(SqlClient.SqlClient, client.layer)

  it.live("opens a file in WAL mode and round-trips values", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        const mode = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
        assert.strictEqual(mode[0]!.journal_mode, "wal")
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, big INTEGER, data BLOB, flag INTEGER)`
        yield* sql`INSERT INTO t ${sql.insert({ name: "a'b", n: 1.5, big: 2n ** 60n, data: new Uint8Array([1, 2]), flag: true })}`
        const [row] = yield* sql`SELECT name, n, data, flag FROM t`
        assert.strictEqual(row!.name, "a'b")
        assert.strictEqual(row!.n, 1.5)
        assert.strictEqual(row!.flag, 1)
        assert.deepStrictEqual(Array.from(row!.data as Uint8Array), [1, 2])
        const values = yield* sql`SELECT id, name FROM t`.values
        assert.deepStrictEqual(values, [[1, "a'b"]])
        const returning = yield* sql`INSERT INTO t (name) VALUES (${"x"}) RETURNING id`
        assert.deepStrictEqual(returning.map((r) => r.id), [2])
        const tooBig = yield* Effect.flip(sql`SELECT big FROM t WHERE id = 1`)
        assert.match(tooBig.message, /too large/)
      })))

  it.live("rows keep their shape: no rows, one column, a repeated column name (the later wins), nulls and blobs, cached and unprepared", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (a INTEGER, b TEXT, c BLOB)`
        assert.deepStrictEqual(yield* sql`SELECT a, b FROM t`, [])
        yield* sql`INSERT INTO t ${sql.insert([{ a: 1, b: "x", c: new Uint8Array([7]) }, { a: 2, b: null, c: null }])}`
        assert.deepStrictEqual(yield* sql`SELECT a FROM t ORDER BY a`, [{ a: 1 }, { a: 2 }])
        assert.deepStrictEqual(yield* sql`SELECT a, b AS a FROM t ORDER BY rowid`, [{ a: "x" }, { a: null }])
        const rows = yield* sql`SELECT a, b, c FROM t ORDER BY a`
        assert.deepStrictEqual(rows.map((r) => [r.a, r.b, r.c === null ? null : Array.from(r.c as Uint8Array)]), [[1, "x", [7]], [2, null, null]])
        assert.deepStrictEqual(yield* sql`SELECT b FROM t WHERE a = ${2}`.unprepared, [{ b: null }])
        assert.deepStrictEqual(yield* sql`UPDATE t SET b = ${"y"} WHERE a = ${2}`, [])
        assert.deepStrictEqual(yield* sql`UPDATE t SET b = ${"z"} WHERE a = ${2} RETURNING a, b`, [{ a: 2, b: "z" }])
      })))

  it.live("a batch is all or none: on its own in a transaction of its own, inside one as part of it", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`
        yield* Sqlite.executeBatch(sql, [sql`INSERT INTO t (n) VALUES (${1})`, sql`INSERT INTO t (n) VALUES (${2})`])
        // the second statement fails: the first is undone with it
        const failed = yield* Effect.flip(Sqlite.executeBatch(sql, [sql`INSERT INTO t (n) VALUES (${3})`, sql`INSERT INTO t (n) VALUES (${null})`]))
        assert.match(failed.message, /NOT NULL/)
        assert.deepStrictEqual((yield* sql`SELECT n FROM t ORDER BY id`).map((r) => r.n), [1, 2])
        // the connection is not left in a transaction: the next statement commits on its own
        yield* sql`INSERT INTO t (n) VALUES (${4})`
        // inside a transaction that fails later, the batch is rolled back with it
        yield* Effect.flip(sql.withTransaction(Effect.andThen(
          Sqlite.executeBatch(sql, [sql`INSERT INTO t (n) VALUES (${5})`]),
          Effect.fail("later")
        )))
        assert.deepStrictEqual((yield* sql`SELECT n FROM t ORDER BY id`).map((r) => r.n), [1, 2, 4])
      })))

  it.live("raw, unprepared and valuesUnprepared statements", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)`
        const raw = (yield* sql`INSERT INTO t (n) VALUES (${7})`.raw) as { changes: number; lastInsertRowid: number }
        assert.deepStrictEqual([raw.changes, raw.lastInsertRowid], [1, 1])
        const rawRows = yield* sql`SELECT n FROM t`.raw
        assert.deepStrictEqual(rawRows, [{ n: 7 }])
        assert.deepStrictEqual(yield* sql`SELECT id, n FROM t WHERE n = ${7}`.unprepared, [{ id: 1, n: 7 }])
        assert.deepStrictEqual(yield* sql`SELECT id, n FROM t WHERE n = ${7}`.valuesUnprepared, [[1, 7]])
      })))

  it.live("opens read-only: reads work, writes fail, transactions begin without taking the write lock", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = yield* tempFile
      yield* withClient((sql) => Effect.andThen(sql`CREATE TABLE t (n INTEGER)`, sql`INSERT INTO t VALUES (1)`), { filename })
      yield* withClient((sql) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* total(sql), 1)
          const write = yield* Effect.flip(sql`INSERT INTO t VALUES (2)`)
          assert.match(write.message, /readonly/)
          // another connection holds the write lock: a read-only transaction (plain BEGIN) does not wait for it
          const other = new DatabaseSync(filename)
          other.exec("BEGIN IMMEDIATE")
          assert.strictEqual(yield* sql.withTransaction(total(sql)), 1)
          other.exec("ROLLBACK")
          other.close()
        }), { filename, readonly: true, busyTimeout: "100 millis" })
    })))

  it.live("reads integers beyond 2^53 as bigint when asked", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        const [row] = yield* sql`SELECT ${2n ** 60n} AS big, 7 AS small`
        assert.strictEqual(row!.big, 2n ** 60n)
        assert.strictEqual(row!.small, 7n)
      }), { readBigInts: true }))

  // only on this thread: the worker's cache is the same code (internal/sqliteConnection.ts), out of reach here
  if (client.name === "SqliteClient") it.live("keeps at most statementCacheSize prepared statements, least recently used dropped", () =>
    withClient((client) =>
      Effect.gen(function*() {
        const sql = client as SqliteClient.SqliteClient
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)`
        for (let i = 0; i < 20; i++) {
          yield* sql`INSERT INTO t (n) VALUES (${i})`
          const rows = yield* sql.unsafe<{ n: number }>(`SELECT n FROM t WHERE n = ${i} AND ${i} = ${i}`)
          assert.deepStrictEqual(rows.map((r) => r.n), [i])
          assert.isAtMost(sql.cachedStatements(), 3)
        }
        assert.strictEqual(yield* total(sql), 20)
      }), { statementCacheSize: 3 }))

  it.live("transactions commit, roll back, and nest through savepoints", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        yield* sql.withTransaction(sql`INSERT INTO t VALUES (1)`)
        assert.strictEqual(yield* total(sql), 1)

        yield* Effect.flip(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (2)`, Effect.fail("boom"))))
        assert.strictEqual(yield* total(sql), 1, "rolled back")

        // inner failure rolls back the savepoint only
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (3)`
          yield* Effect.flip(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (4)`, Effect.fail("inner"))))
          yield* sql.withTransaction(sql.withTransaction(sql`INSERT INTO t VALUES (5)`))
        }))
        const rows = yield* sql<{ n: number }>`SELECT n FROM t ORDER BY n`
        assert.deepStrictEqual(rows.map((r) => r.n), [1, 3, 5])

        // outer failure undoes committed savepoints too
        yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
          yield* sql.withTransaction(sql`INSERT INTO t VALUES (6)`)
          return yield* Effect.fail("outer")
        })))
        assert.strictEqual(yield* total(sql), 3)
        // a defect rolls back as well, and the connection is usable afterwards
        yield* Effect.exit(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (7)`, Effect.die("bug"))))
        assert.strictEqual(yield* total(sql), 3)
      })))

  it.live("a transaction owns the connection: other fibers' statements wait for its end", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const tx = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* Deferred.succeed(inside, undefined)
          yield* Deferred.await(release)
          yield* sql`INSERT INTO t VALUES (2)`
        })))
        yield* Deferred.await(inside).pipe(Effect.timeout("5 seconds"))
        const outside = yield* Effect.forkChild(total(sql))
        yield* Effect.sleep("50 millis")
        assert.isUndefined(outside.pollUnsafe(), "waits for the transaction")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(tx)
        assert.strictEqual(yield* Fiber.join(outside), 2, "sees the whole transaction, never half of it")
      })))

  it.live("streams large results in chunks", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        yield* sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000) INSERT INTO t SELECT x FROM c`
        const sum = yield* sql<{ n: number }>`SELECT n FROM t`.stream.pipe(
          Stream.runFold(() => 0, (acc, row) => acc + row.n)
        )
        assert.strictEqual(sum, 10000 * 10001 / 2)
        const firstThree = yield* sql<{ n: number }>`SELECT n FROM t ORDER BY n`.stream.pipe(Stream.take(3), Stream.runCollect)
        assert.deepStrictEqual(firstThree.map((r) => r.n), [1, 2, 3])
        assert.strictEqual(yield* total(sql), 10000, "usable after a stream was cut short")
      }), { streamChunkSize: 100 }))

  it.live("classifies SQLite errors", () =>
    withClient((sql) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER UNIQUE)`
        yield* sql`INSERT INTO t VALUES (1)`
        const unique = yield* Effect.flip(sql`INSERT INTO t VALUES (1)`)
        assert.strictEqual(unique.reason._tag, "UniqueViolation")
        const syntax = yield* Effect.flip(sql.unsafe("SELEC nonsense"))
        assert.strictEqual(syntax.reason._tag, "SqlSyntaxError")
        const missing = yield* Effect.flip(sql`SELECT * FROM nowhere`)
        assert.strictEqual(missing.reason._tag, "SqlSyntaxError")
      })))

  it.live("a lock held by another connection past the busy timeout is a LockTimeoutError", () =>
    withClient((sql, filename) =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE t (n INTEGER)`
        const other = new DatabaseSync(filename)
        other.exec("BEGIN EXCLUSIVE")
        const started = Date.now()
        const locked = yield* Effect.flip(sql`INSERT INTO t VALUES (1)`)
        other.exec("ROLLBACK")
        other.close()
        assert.strictEqual(locked.reason._tag, "LockTimeoutError")
        assert.isAtLeast(Date.now() - started, 90, "waited for the busy timeout first")
        yield* sql`INSERT INTO t VALUES (1)`
        assert.strictEqual(yield* total(sql), 1)
      }), { busyTimeout: "100 millis" }))
})
