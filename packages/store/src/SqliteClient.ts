/**
 * An `effect/sql` `SqlClient` over Node's built-in `node:sqlite` (no native
 * addon): one connection shared through a semaphore, a bounded cache of
 * prepared statements, `BEGIN IMMEDIATE` transactions, nested
 * `withTransaction` through savepoints, WAL mode and a busy timeout.
 *
 * Effect 4.1 ships the pieces a SQLite driver needs (`SqlClient.make`,
 * `SqlClient.makeSqliteAcquirers`, `Statement.makeCompilerSqlite`) but no
 * driver over `node:sqlite`; this module is that driver.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import * as SqlError from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"

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

type Row = Record<string, unknown>

interface Prepared {
  readonly statement: StatementSync
  /** Whether the statement returns rows (SELECT, or a write with RETURNING). */
  readonly reader: boolean
}

/**
 * Maps a `node:sqlite` error (it carries the SQLite result code as `errcode`)
 * to an `effect/sql` reason, keeping the original error as the cause.
 */
const toSqlError = (cause: unknown, operation: string): SqlError.SqlError => {
  const errcode = typeof (cause as { errcode?: unknown } | null)?.errcode === "number"
    ? (cause as { errcode: number }).errcode
    : undefined
  const message = cause instanceof Error ? cause.message : String(cause)
  const props = { cause, message, operation }
  if (errcode === undefined) return new SqlError.SqlError({ reason: new SqlError.UnknownError(props) })
  if (errcode === 2067 || errcode === 1555) {
    const constraint = /constraint failed: (.*)$/.exec(message)?.[1]?.trim() ?? "unknown"
    return new SqlError.SqlError({ reason: new SqlError.UniqueViolation({ ...props, constraint }) })
  }
  switch (errcode & 0xff) {
    case 19:
      return new SqlError.SqlError({ reason: new SqlError.ConstraintError(props) })
    case 5:
    case 6:
      return new SqlError.SqlError({ reason: new SqlError.LockTimeoutError(props) })
    case 14:
      return new SqlError.SqlError({ reason: new SqlError.ConnectionError(props) })
    case 3:
      return new SqlError.SqlError({ reason: new SqlError.AuthorizationError(props) })
    case 23:
      return new SqlError.SqlError({ reason: new SqlError.AuthenticationError(props) })
    case 1:
      return /syntax error|no such (table|column)/.test(message)
        ? new SqlError.SqlError({ reason: new SqlError.SqlSyntaxError(props) })
        : new SqlError.SqlError({ reason: new SqlError.UnknownError(props) })
    default:
      return new SqlError.SqlError({ reason: new SqlError.UnknownError(props) })
  }
}

const toInput = (value: unknown): SQLInputValue => {
  switch (typeof value) {
    case "string":
    case "number":
    case "bigint":
      return value
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    default:
      if (value === null || value instanceof Uint8Array) return value
      if (value instanceof Date) return value.toISOString()
      return JSON.stringify(value)
  }
}

const toInputs = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => {
  const out = new Array<SQLInputValue>(params.length)
  for (let i = 0; i < params.length; i++) out[i] = toInput(params[i])
  return out
}

/**
 * A least-recently-used cache of prepared statements. A `Map` keeps insertion
 * order, so re-inserting on a hit moves the entry to the young end.
 */
class StatementCache {
  readonly entries = new Map<string, Prepared>()
  readonly db: DatabaseSync
  readonly capacity: number
  readonly arrays: boolean
  constructor(db: DatabaseSync, capacity: number, arrays: boolean) {
    this.db = db
    this.capacity = capacity
    this.arrays = arrays
  }
  get(sql: string): Prepared {
    const hit = this.entries.get(sql)
    if (hit !== undefined) {
      this.entries.delete(sql)
      this.entries.set(sql, hit)
      return hit
    }
    const prepared = prepare(this.db, sql, this.arrays)
    if (this.capacity <= 0) return prepared
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    this.entries.set(sql, prepared)
    return prepared
  }
}

const prepare = (db: DatabaseSync, sql: string, arrays: boolean): Prepared => {
  const statement = db.prepare(sql)
  if (arrays) statement.setReturnArrays(true)
  return { statement, reader: statement.columns().length > 0 }
}

const runPrepared = (prepared: Prepared, params: ReadonlyArray<unknown>): Array<any> => {
  const inputs = toInputs(params)
  if (prepared.reader) return prepared.statement.all(...inputs)
  prepared.statement.run(...inputs)
  return []
}

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
    const memory = config.filename === ":memory:"
    const busyMillis = Duration.toMillis(Duration.fromInputUnsafe(config.busyTimeout ?? Duration.seconds(5)))
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const db = new DatabaseSync(config.filename, {
            readOnly: config.readonly ?? false,
            timeout: Math.max(0, Math.round(busyMillis)),
            enableForeignKeyConstraints: true,
            readBigInts: config.readBigInts ?? false
          })
          try {
            // The first statement reads the header: a file that is not a
            // database fails here rather than on some later query.
            if (!memory && config.wal !== false && config.readonly !== true) db.exec("PRAGMA journal_mode = WAL")
            db.exec("PRAGMA synchronous = NORMAL")
            db.exec(`PRAGMA wal_autocheckpoint = ${Math.max(100, Math.floor(config.walAutocheckpointPages ?? 16384))}`)
            db.exec(`PRAGMA cache_size = -${Math.max(256, Math.floor(config.cacheSizeKiB ?? 65536))}`)
            db.prepare("SELECT count(*) FROM sqlite_schema").get()
          } catch (error) {
            db.close()
            throw error
          }
          return db
        },
        catch: (cause) => toSqlError(cause, "open")
      }),
      (db) => Effect.sync(() => db.isOpen && db.close())
    )

    const cacheSize = config.statementCacheSize ?? 256
    const objects = new StatementCache(db, cacheSize, false)
    const arrays = new StatementCache(db, Math.max(0, Math.floor(cacheSize / 4)), true)
    const chunkSize = Math.max(1, config.streamChunkSize ?? 256)

    const run = <A>(operation: string, f: () => A): Effect.Effect<A, SqlError.SqlError> =>
      Effect.try({ try: f, catch: (cause) => toSqlError(cause, operation) })

    const connection: SqlConnection.Connection = {
      execute: (sql, params, transformRows) =>
        run("execute", () => {
          const rows = runPrepared(objects.get(sql), params)
          return transformRows ? transformRows(rows) : rows
        }),
      executeRaw: (sql, params) =>
        run("executeRaw", () => {
          const prepared = objects.get(sql)
          const inputs = toInputs(params)
          return prepared.reader ? prepared.statement.all(...inputs) : prepared.statement.run(...inputs)
        }),
      executeValues: (sql, params) => run("executeValues", () => runPrepared(arrays.get(sql), params)),
      executeValuesUnprepared: (sql, params) =>
        run("executeValuesUnprepared", () => runPrepared(prepare(db, sql, true), params)),
      executeUnprepared: (sql, params, transformRows) =>
        run("executeUnprepared", () => {
          const rows = runPrepared(prepare(db, sql, false), params)
          return transformRows ? transformRows(rows) : rows
        }),
      executeStream: (sql, params, transformRows) =>
        // A statement of its own: a cached one could be reset under the
        // iterator by another query on this connection.
        Stream.unwrap(
          Effect.map(
            run("executeStream", () => db.prepare(sql).iterate(...toInputs(params))),
            (iterator) =>
              Stream.paginate(iterator, (iterator) =>
                run("executeStream", () => {
                  const chunk: Array<Row> = []
                  let done = false
                  while (chunk.length < chunkSize) {
                    const next = iterator.next()
                    if (next.done === true) {
                      done = true
                      break
                    }
                    chunk.push(next.value as Row)
                  }
                  const rows = transformRows ? transformRows(chunk) : chunk
                  return [rows, done ? Option.none() : Option.some(iterator)] as const
                }))
          )
        )
    }

    const semaphore = yield* Semaphore.make(1)
    const acquirers = SqlClient.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore,
      isTransaction: () => db.isTransaction
    })
    const spanAttributes: Array<readonly [string, unknown]> = [
      ...Object.entries(config.spanAttributes ?? {}),
      ["db.system.name", "sqlite"]
    ]
    const client = yield* SqlClient.make({
      acquirer: acquirers.acquirer,
      borrower: acquirers.borrower,
      transactionAcquirer: acquirers.transactionAcquirer,
      onCommitFailure: acquirers.onCommitFailure,
      isTransaction: acquirers.isTransaction,
      compiler: Statement.makeCompilerSqlite(),
      driver: "sqlite-node",
      spanAttributes,
      prepareTransactionControls: true,
      // IMMEDIATE takes the write lock at BEGIN, so a transaction never fails
      // half-way when upgrading from a read lock another process also holds.
      beginTransaction: config.readonly === true ? "BEGIN" : "BEGIN IMMEDIATE",
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`
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
  Layer.effectContext(
    Effect.map(make(config), (client) =>
      Context.make(SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
