/**
 * How driver errors are classified, and which are transient: the shapes
 * `@effect/sql-pg` and `node:sqlite` produce (seen against real servers in
 * PostgresRestart.test.ts, PostgresStore.test.ts and SqliteStore.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { ConnectionError, SqlError, UnknownError } from "effect/sql/SqlError"
import * as StoreError from "../src/StoreError.ts"

const nodeError = (code: string, message: string) => Object.assign(new Error(message), { code })
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: "FATAL" })
const connection = (cause: unknown, message = "PgConnection: Failed to connect") =>
  new SqlError({ reason: new ConnectionError({ cause, message, operation: "connect" }) })
const unknown = (cause: unknown, message = "PgConnection: Query failed") =>
  new SqlError({ reason: new UnknownError({ cause, message, operation: "query" }) })
const sqlite = (errcode: number, message: string) =>
  unknown(Object.assign(new Error(message), { errcode, code: "ERR_SQLITE_ERROR" }))

const classify = (error: unknown) => StoreError.fromSqlError(error, "db", "test")

describe("StoreError.fromSqlError and isTransient", () => {
  it("a lost, refused or timed-out connection, or a server going down or starting, is DatabaseUnavailable", () => {
    const cases: Array<[string, unknown]> = [
      ["refused", connection(nodeError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"))],
      ["reset", connection(nodeError("ECONNRESET", "read ECONNRESET"), "PgConnection: Socket error")],
      ["pipe", connection(nodeError("EPIPE", "write EPIPE"), "PgConnection: Socket error")],
      ["timed out (socket)", connection(nodeError("ETIMEDOUT", "connect ETIMEDOUT 10.0.0.1:5432"))],
      ["connect timeout", connection(new Error("Connection timed out"), "PgConnection: Connection timed out")],
      ["closed under a statement", connection(new Error("Connection closed"), "PgConnection: Connection closed")],
      ["closed during startup", connection(new Error("Connection closed unexpectedly"), "PgConnection: Connection closed during startup")],
      ["pg driver wording", new Error("Connection terminated unexpectedly")],
      ["08006", connection(pgError("08006", "connection failure"))],
      ["08000", unknown(pgError("08000", "connection exception"))],
      ["08001", unknown(pgError("08001", "could not connect"))],
      ["08003", unknown(pgError("08003", "connection does not exist"))],
      ["08004", unknown(pgError("08004", "server rejected the connection"))],
      ["57P01 admin_shutdown", unknown(pgError("57P01", "terminating connection due to administrator command"))],
      ["57P02 crash_shutdown", unknown(pgError("57P02", "terminating connection because of crash of another server process"))],
      ["57P03 cannot_connect_now", unknown(pgError("57P03", "the database system is starting up"), "PgConnection: Failed to connect")]
    ]
    for (const [name, error] of cases) {
      const classified = classify(error)
      assert.strictEqual(classified._tag, "DatabaseUnavailable", name)
      assert.isTrue(StoreError.isTransient(classified), name)
      assert.match(classified.message, /^db is unavailable \(.+\); is the database server running and reachable\?$/, name)
    }
    assert.strictEqual(classify(cases[0]![1]).message, "db is unavailable (connect ECONNREFUSED 127.0.0.1:5432); is the database server running and reachable?")
  })

  it("locks held by others are DatabaseLocked, and transient", () => {
    const cases: Array<[string, unknown]> = [
      ["sqlite busy", sqlite(5, "database is locked")],
      ["sqlite busy (extended code)", sqlite(5 | (2 << 8), "database is locked")],
      ["sqlite locked", sqlite(6, "database table is locked")],
      ["55P03 lock_not_available", unknown(pgError("55P03", "canceling statement due to lock timeout"))],
      ["40001 serialization_failure", unknown(pgError("40001", "could not serialize access"))],
      ["40P01 deadlock_detected", unknown(pgError("40P01", "deadlock detected"))]
    ]
    for (const [name, error] of cases) {
      const classified = classify(error)
      assert.strictEqual(classified._tag, "DatabaseLocked", name)
      assert.isTrue(StoreError.isTransient(classified), name)
    }
  })

  it("corrupt files, full disks, configuration and other errors are not transient", () => {
    const cases: Array<[string, unknown, string]> = [
      ["sqlite corrupt", sqlite(11, "database disk image is malformed"), "DatabaseCorrupt"],
      ["sqlite not a database", sqlite(26, "file is not a database"), "DatabaseCorrupt"],
      ["sqlite full", sqlite(13, "database or disk is full"), "DiskFull"],
      ["pg disk full", unknown(pgError("53100", "could not extend file")), "DiskFull"],
      ["pg corrupt", unknown(pgError("XX001", "invalid page in block")), "DatabaseCorrupt"],
      ["bad URL", connection(new Error("Invalid connection URL"), "PgConnection: Invalid connection URL"), "StorageFailure"],
      ["no user", connection(new Error("No username configured"), "PgConnection: No username configured"), "StorageFailure"],
      ["unknown host", connection(nodeError("ENOTFOUND", "getaddrinfo ENOTFOUND db.invalid")), "StorageFailure"],
      ["bad password", unknown(pgError("28P01", "password authentication failed")), "StorageFailure"],
      ["syntax", unknown(pgError("42601", "syntax error at or near")), "StorageFailure"],
      ["anything else", new Error("boom"), "StorageFailure"]
    ]
    for (const [name, error, tag] of cases) {
      const classified = classify(error)
      assert.strictEqual(classified._tag, tag, name)
      assert.isFalse(StoreError.isTransient(classified), name)
    }
    for (
      const error of [
        new StoreError.SchemaTooNew({ database: "db", found: 9, supported: 3 }),
        new StoreError.InvalidUrl({ url: "x", reason: "no" }),
        new StoreError.DuplicateTarget({ url: "x" }),
        new StoreError.TargetNotFound({ id: 1 }),
        new StoreError.StorageFailure({ operation: "x", detail: "y" }),
        "DatabaseUnavailable",
        null,
        undefined
      ]
    ) assert.isFalse(StoreError.isTransient(error), String((error as { _tag?: string } | null)?._tag ?? error))
    // by tag: the same error from another copy of the module is recognised
    assert.isTrue(StoreError.isTransient({ _tag: "DatabaseUnavailable", database: "db", detail: "down" }))
  })
})
