/**
 * Helpers of the SQLite client tests: a temp database file, running an
 * effect against a client opened on it, and counting the rows of `t`.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as SqliteClient from "../../src/SqliteClient.ts"

/** A database file in a temp directory of its own, removed with the scope. */
export const tempFile = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "trawl-sqlite-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "test.db")))

/**
 * Runs `f` with the client `key` of `layer`, opened on `config.filename` or
 * else a temp file, and closes it afterwards.
 */
export const runner = <I, S extends SqlClient.SqlClient>(
  key: Context.Key<I, S>,
  layer: (config: SqliteClient.SqliteClientConfig) => Layer.Layer<I | SqlClient.SqlClient, SqlError.SqlError>
) =>
<A, E>(
  f: (sql: S, filename: string) => Effect.Effect<A, E, SqlClient.SqlClient>,
  config: Partial<SqliteClient.SqliteClientConfig> = {}
) =>
  Effect.scoped(Effect.gen(function*() {
    const filename = config.filename ?? (yield* tempFile)
    return yield* Effect.provide(Effect.flatMap(key, (sql) => f(sql, filename)), layer({ ...config, filename }))
  }))

/** Rows in table t. */
export const total = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ n: number }>`SELECT count(*) AS n FROM t`, (rows) => rows[0]!.n)
