/**
 * What trawl's two SQLite clients (`SqliteClient` on the calling thread,
 * `SqliteWorkerClient` over a worker) share on the Effect side: the
 * configuration resolved to plain options, the mapping of SQLite errors to
 * `SqlError`, and the `SqlClient` built around a connection (one connection
 * shared through a semaphore, `BEGIN IMMEDIATE`, savepoints).
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import * as SqlError from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import type { SqliteClientConfig } from "../SqliteClient.ts"
import type { OpenOptions } from "./sqliteConnection.ts"

/** The configuration with its defaults applied. */
export const openOptions = (config: SqliteClientConfig): OpenOptions => ({
  filename: config.filename,
  readonly: config.readonly ?? false,
  busyTimeoutMillis: Math.max(
    0,
    Math.round(Duration.toMillis(Duration.fromInputUnsafe(config.busyTimeout ?? Duration.seconds(5))))
  ),
  wal: config.wal !== false,
  walAutocheckpointPages: Math.max(100, Math.floor(config.walAutocheckpointPages ?? 16384)),
  cacheSizeKiB: Math.max(256, Math.floor(config.cacheSizeKiB ?? 65536)),
  readBigInts: config.readBigInts ?? false,
  statementCacheSize: config.statementCacheSize ?? 256,
  streamChunkSize: Math.max(1, config.streamChunkSize ?? 256)
})

/**
 * Maps a `node:sqlite` error (it carries the SQLite result code as `errcode`)
 * to an `effect/sql` reason, keeping the original error as the cause.
 */
export const toSqlError = (cause: unknown, operation: string): SqlError.SqlError => {
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

/**
 * Runs compiled statements in order on a connection, stopping at the first
 * failure; their rows are dropped. `atomic`: in a transaction of their own
 * (there is none on the connection), rolled back when one fails.
 */
export type RunBatch = (
  connection: SqlConnection.Connection,
  sqls: ReadonlyArray<string>,
  params: ReadonlyArray<ReadonlyArray<unknown>>,
  atomic: boolean
) => Effect.Effect<void, SqlError.SqlError>

const batches = new WeakMap<object, (statements: ReadonlyArray<Statement.Statement<unknown>>) => Effect.Effect<void, SqlError.SqlError>>()

/**
 * Runs statements whose rows are not needed one after the other, all or
 * none: in the current transaction if there is one, else in one of their
 * own. On trawl's SQLite clients that is one step (for `SqliteWorkerClient`,
 * one message to the worker instead of one per statement); on any other
 * client, the statements one by one in a transaction.
 */
export const executeBatch = (
  sql: SqlClient.SqlClient,
  statements: ReadonlyArray<Statement.Statement<unknown>>
): Effect.Effect<void, SqlError.SqlError> => {
  const batch = batches.get(sql)
  return batch !== undefined
    ? batch(statements)
    : sql.withTransaction(Effect.forEach(statements, (statement) => statement, { discard: true }))
}

/**
 * The `SqlClient` over one SQLite connection: `connection` hands it out (it
 * runs holding the semaphore, so it may open one), `isTransaction` says
 * whether a transaction is open on it, `runBatch` runs several statements on
 * it at once (`executeBatch`).
 */
export const makeClient = (options: {
  readonly config: SqliteClientConfig
  readonly connection: Effect.Effect<SqlConnection.Connection, SqlError.SqlError>
  readonly isTransaction: (connection: SqlConnection.Connection) => boolean
  readonly runBatch: RunBatch
}): Effect.Effect<SqlClient.SqlClient, never, Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const { config } = options
    const semaphore = yield* Semaphore.make(1)
    const acquirers = SqlClient.makeSqliteAcquirers({
      connection: options.connection,
      semaphore,
      isTransaction: options.isTransaction
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
    batches.set(client, (statements) =>
      Effect.suspend(() => {
        if (statements.length === 0) return Effect.void
        const sqls: Array<string> = []
        const params: Array<ReadonlyArray<unknown>> = []
        for (const statement of statements) {
          const [sql, values] = statement.compile()
          sqls.push(sql)
          params.push(values)
        }
        return Effect.flatMap(
          Effect.serviceOption(client.transactionService),
          (transaction) =>
            transaction._tag === "Some"
              ? options.runBatch(transaction.value[0], sqls, params, false)
              : Effect.scoped(Effect.flatMap(client.reserve, (connection) => options.runBatch(connection, sqls, params, true)))
        )
      }).pipe(Effect.withSpan("sql.batch", { kind: "client", attributes: { "db.operation.batch.size": statements.length } })))
    return client
  })

/** A layer providing a client under its own key and as the generic `SqlClient`. */
export const layerOf = <I, S extends SqlClient.SqlClient>(
  key: Context.Key<I, S>,
  make: Effect.Effect<S, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity>
): Layer.Layer<I | SqlClient.SqlClient, SqlError.SqlError> =>
  Layer.effectContext(
    Effect.map(make, (client) => Context.make(key, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
