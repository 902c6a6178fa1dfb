/**
 * An `effect/sql` `SqlClient` over Node's built-in `node:sqlite` (no native
 * addon): one connection shared through a semaphore, a bounded cache of
 * prepared statements, `BEGIN IMMEDIATE` transactions, nested
 * `withTransaction` through savepoints, WAL mode and a busy timeout.
 *
 * Effect 4.1 ships the pieces a SQLite driver needs (`SqlClient.make`,
 * `SqlClient.makeSqliteAcquirers`, `Statement.makeCompilerSqlite`) but no
 * driver over `node:sqlite`; this module is that driver. It runs on the
 * calling thread; `SqliteWorkerClient` runs the same connection in a worker
 * thread (the store's default).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import type * as SqlError from "effect/sql/SqlError"
import { layerOf, makeClient, openOptions, toSqlError } from "./internal/sqlite.ts"
import {
  iterate,
  open,
  prepare,
  readChunk,
  runBatchOn,
  runPrepared,
  runRaw,
  statementCaches
} from "./internal/sqliteConnection.ts"

/**
 * Options of a SQLite client.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@trawl/store"
 *
 * const config: SqliteClient.SqliteClientConfig = { filename: "./trawl.db", busyTimeout: "2 seconds" }
 * ```
 *
 * @since 0.1.0
 */
export interface SqliteClientConfig {
  /** Path of the database file, or `":memory:"`. */
  readonly filename: string
  /** Open read-only. Default false. */
  readonly readonly?: boolean | undefined
  /** How long a statement waits for another process's lock before failing with SQLITE_BUSY. Default 5 seconds. */
  readonly busyTimeout?: Duration.Input | undefined
  /** Use the write-ahead log (readers never block the writer). Default true (ignored for `:memory:`). */
  readonly wal?: boolean | undefined
  /** Prepared statements kept per connection (least recently used are dropped). Default 256. */
  readonly statementCacheSize?: number | undefined
  /** Page cache of the connection, in KiB. Default 65536 (64 MiB; SQLite's own default is 2 MiB, which indexes outgrow fast). */
  readonly cacheSizeKiB?: number | undefined
  /**
   * WAL pages written before SQLite copies them back into the database file
   * (a checkpoint, the only step that syncs the disk in WAL mode). Default
   * 16384 (64 MiB at 4 KiB pages); SQLite's own 1000 checkpoints after
   * nearly every large batch.
   */
  readonly walAutocheckpointPages?: number | undefined
  /** Read integers as `bigint` (otherwise integers beyond 2^53 fail to read). Default false. */
  readonly readBigInts?: boolean | undefined
  /** Rows read from SQLite per pull when streaming. Default 256. */
  readonly streamChunkSize?: number | undefined
  /** Extra span attributes on every query span. */
  readonly spanAttributes?: Record<string, unknown> | undefined
}

/**
 * The client: an `effect/sql` `SqlClient` plus the configuration it was opened with.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteClient } from "@trawl/store"
 *
 * const version = Effect.gen(function*() {
 *   const sql = yield* SqliteClient.SqliteClient
 *   return yield* sql<{ v: string }>`SELECT sqlite_version() AS v`
 * }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" })))
 * ```
 *
 * @since 0.1.0
 */
export interface SqliteClient extends SqlClient.SqlClient {
  readonly config: SqliteClientConfig
  /** How many prepared statements the cache holds now (never above `statementCacheSize`). */
  readonly cachedStatements: () => number
}

/**
 * The service key of the SQLite client.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteClient } from "@trawl/store"
 *
 * const filename = Effect.map(SqliteClient.SqliteClient, (sql) => sql.config.filename)
 * ```
 *
 * @since 0.1.0
 */
export const SqliteClient = Context.Service<SqliteClient>("@trawl/store/SqliteClient")

/**
 * Opens the database and builds the client. The connection is closed when the
 * scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteClient } from "@trawl/store"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const sql = yield* SqliteClient.make({ filename: ":memory:" })
 *   yield* sql`CREATE TABLE t (x INTEGER)`
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  config: SqliteClientConfig
): Effect.Effect<SqliteClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const options = openOptions(config)
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => open(options), catch: (cause) => toSqlError(cause, "open") }),
      (db) => Effect.sync(() => db.isOpen && db.close())
    )
    const { arrays, objects } = statementCaches(db, options.statementCacheSize)

    const run = <A>(operation: string, f: () => A): Effect.Effect<A, SqlError.SqlError> =>
      Effect.try({ try: f, catch: (cause) => toSqlError(cause, operation) })

    const connection: SqlConnection.Connection = {
      execute: (sql, params, transformRows) =>
        run("execute", () => {
          const rows = runPrepared(objects.get(sql), params)
          return transformRows ? transformRows(rows) : rows
        }),
      executeRaw: (sql, params) => run("executeRaw", () => runRaw(objects.get(sql), params)),
      executeValues: (sql, params) => run("executeValues", () => runPrepared(arrays.get(sql), params)),
      executeValuesUnprepared: (sql, params) =>
        run("executeValuesUnprepared", () => runPrepared(prepare(db, sql, true), params)),
      executeUnprepared: (sql, params, transformRows) =>
        run("executeUnprepared", () => {
          const rows = runPrepared(prepare(db, sql, false), params)
          return transformRows ? transformRows(rows) : rows
        }),
      executeStream: (sql, params, transformRows) =>
        Stream.unwrap(
          Effect.map(
            run("executeStream", () => iterate(db, sql, params)),
            (iterator) =>
              Stream.paginate(iterator, (iterator) =>
                run("executeStream", () => {
                  const { done, rows } = readChunk(iterator, options.streamChunkSize)
                  return [transformRows ? transformRows(rows) : rows, done ? Option.none() : Option.some(iterator)] as const
                }))
          )
        )
    }

    const client = yield* makeClient({
      config,
      connection: Effect.succeed(connection),
      isTransaction: () => db.isTransaction,
      runBatch: (_, sqls, params, atomic) =>
        run("executeBatch", () => runBatchOn(db, sqls.length, (i) => objects.get(sqls[i]!), (i) => params[i]!, atomic))
    })
    return Object.assign(client, { config, cachedStatements: () => objects.entries.size }) as SqliteClient
  })

/**
 * A layer providing both `SqliteClient` and the generic `SqlClient`.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@trawl/store"
 *
 * const SqlLive = SqliteClient.layer({ filename: "./trawl.db" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  config: SqliteClientConfig
): Layer.Layer<SqliteClient | SqlClient.SqlClient, SqlError.SqlError> =>
  layerOf(SqliteClient, make(config))
