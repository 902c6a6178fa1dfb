/**
 * An `effect/sql` `SqlClient` whose `node:sqlite` connection lives in a
 * `worker_threads` Worker, so that SQLite's synchronous statements (and its
 * busy waits on another process's lock) no longer block the event loop of
 * the calling thread. Each statement is one `postMessage` (its SQL text and
 * parameters; the worker prepares and caches the statement) and one reply
 * (its rows). Otherwise it is `SqliteClient`: the same configuration,
 * compiler, one connection shared through a semaphore, `BEGIN IMMEDIATE`
 * transactions, savepoints, WAL, streamed queries and error mapping.
 *
 * A worker that dies (a crash, out of memory, `terminate()`) takes its
 * connection with it, and SQLite rolls back the transaction that was open on
 * it. The statements waiting on it fail at once with a `SqlError` ("the
 * SQLite worker exited …"), and so does every later statement of a
 * transaction begun on it: a transaction never continues on another
 * connection. The next operation outside it starts a fresh worker on the same
 * file. A `:memory:` database lives in its worker and dies with it: the
 * client then fails every operation rather than hand out an empty database.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import * as SqlError from "effect/sql/SqlError"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import { layerOf, makeClient, openOptions, toSqlError } from "./internal/sqlite.ts"
import { type OpenOptions, toInputs, unpack } from "./internal/sqliteConnection.ts"
import {
  type Chunk,
  fromWire,
  Op,
  type Ready,
  type Reply,
  type Request,
  type StatementOp
} from "./internal/sqliteWorkerProtocol.ts"
import { workerOf } from "./internal/testing.ts"
import type { SqliteClientConfig } from "./SqliteClient.ts"

/**
 * The client: an `effect/sql` `SqlClient` plus the configuration it was opened with.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteWorkerClient } from "@trawl/store"
 *
 * const version = Effect.gen(function*() {
 *   const sql = yield* SqliteWorkerClient.SqliteWorkerClient
 *   return yield* sql<{ v: string }>`SELECT sqlite_version() AS v`
 * }).pipe(Effect.provide(SqliteWorkerClient.layer({ filename: "./trawl.db" })))
 * ```
 *
 * @since 0.1.0
 */
export interface SqliteWorkerClient extends SqlClient.SqlClient {
  readonly config: SqliteClientConfig
  /** Workers started so far: 1, plus one per worker that exited under the client and was replaced. */
  readonly workersStarted: () => number
}

/**
 * The service key of the worker-backed SQLite client.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteWorkerClient } from "@trawl/store"
 *
 * const filename = Effect.map(SqliteWorkerClient.SqliteWorkerClient, (sql) => sql.config.filename)
 * ```
 *
 * @since 0.1.0
 */
export const SqliteWorkerClient = Context.Service<SqliteWorkerClient>("@trawl/store/SqliteWorkerClient")

/** The worker's module: the built `.js` next to this file, or the `.ts` source when running from source. */
const workerModule = (): URL => {
  const built = new URL("./internal/sqliteWorker.js", import.meta.url)
  return fs.existsSync(fileURLToPath(built)) ? built : new URL("./internal/sqliteWorker.ts", import.meta.url)
}

/** `code` of the cause of the `SqlError` a dead worker fails with (`StoreError` reads it as transient). */
const exitedCode = "ERR_SQLITE_WORKER_EXITED"
/** `code` of the cause when the worker of a `:memory:` database died: its database is gone (not transient). */
const goneCode = "ERR_SQLITE_WORKER_GONE"

const connectionError = (message: string, code: string, operation: string) =>
  new SqlError.SqlError({
    reason: new SqlError.ConnectionError({
      message,
      operation,
      cause: Object.assign(new Error(message), { code })
    })
  })

/** Requests sent to a worker and not yet answered, at most. */
const maxInFlight = 256

/** A request waiting for its reply; `operation` names it in errors. */
interface Pending {
  readonly resume: (effect: Effect.Effect<any, SqlError.SqlError>) => void
  readonly operation: string
}

/**
 * The connection's thread holds little between statements (prepared
 * statements, one request at a time): a small young generation is enough,
 * where V8 would size it like a busy main thread's (up to 32 MB).
 */
const youngGenerationMb = 6

/**
 * One worker and the connection it holds. It serves as the `Connection` of
 * the transactions begun on it, so when it dies their later statements fail
 * instead of reaching the next worker.
 */
class Thread implements SqlConnection.Connection {
  readonly worker: Worker
  readonly options: OpenOptions
  /** Requests sent and not yet answered, oldest first (the worker answers in order). */
  readonly pending: Array<Pending> = []
  /** Whether a transaction was open after the last reply. */
  inTransaction = false
  /** Why the worker is gone, once it is. */
  exited: { readonly message: string; readonly code: string } | undefined = undefined
  /** Set while the client closes it: its exit is expected. */
  closing = false
  /** Resolves the start-up: the database is open, or failed to open. */
  onReady: ((ready: Ready) => void) | undefined
  /** The error the worker threw, if any, before it exited. */
  lastError: Error | undefined
  readonly onExit: (thread: Thread, code: number) => void
  nextCursor = 0

  constructor(url: URL, options: OpenOptions, onExit: (thread: Thread, code: number) => void) {
    this.options = options
    this.onExit = onExit
    this.worker = new Worker(url, {
      workerData: options,
      name: `trawl sqlite ${options.filename}`,
      resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb }
    })
    this.worker.on("message", (message: Reply | Ready) => this.receive(message))
    this.worker.on("error", (error) => (this.lastError = error))
    this.worker.on("exit", (code) => this.exit(code))
  }

  receive(message: Reply | Ready): void {
    if (this.onReady !== undefined) {
      const onReady = this.onReady
      this.onReady = undefined
      onReady(message as Ready)
      return
    }
    const reply = message as Reply
    this.inTransaction = reply[2]
    const entry = this.pending.shift()
    if (this.pending.length === 0) this.worker.unref()
    if (entry === undefined) return
    entry.resume(
      reply[0] ? Effect.succeed(reply[1]) : Effect.fail(toSqlError(fromWire(reply[1]), entry.operation))
    )
  }

  exit(code: number): void {
    const detail = this.lastError !== undefined ? `exit code ${code}: ${this.lastError.message}` : `exit code ${code}`
    this.exited = this.closing
      ? { code: goneCode, message: "the SQLite client is closed" }
      : this.options.filename === ":memory:"
      ? { code: goneCode, message: `the SQLite worker exited (${detail}); the :memory: database it held is gone` }
      : {
        code: exitedCode,
        message:
          `the SQLite worker exited (${detail}); the transaction open on it, if any, was rolled back, and the next one runs on a fresh worker`
      }
    this.inTransaction = false
    const onReady = this.onReady
    this.onReady = undefined
    onReady?.([false, { name: "Error", message: this.exited.message, code: this.exited.code }])
    const pending = this.pending.splice(0)
    for (const entry of pending) entry.resume(Effect.fail(this.error(entry.operation)))
    this.onExit(this, code)
  }

  error(operation: string): SqlError.SqlError {
    return connectionError(this.exited!.message, this.exited!.code, operation)
  }

  /**
   * Sends `request` and waits for its reply. The semaphore keeps one request
   * in flight; a caller interrupted while waiting lets its permit go before
   * the worker has answered, so the queue is bounded here too.
   */
  request<A>(request: Request, operation: string): Effect.Effect<A, SqlError.SqlError> {
    return Effect.callback<A, SqlError.SqlError>((resume) => {
      if (this.exited !== undefined) return resume(Effect.fail(this.error(operation)))
      if (this.pending.length >= maxInFlight) {
        return resume(Effect.fail(
          new SqlError.SqlError({
            reason: new SqlError.UnknownError({
              message:
                `the SQLite worker has ${maxInFlight} statements in flight (their callers were interrupted while it was busy); this one is refused`,
              operation,
              cause: undefined
            })
          })
        ))
      }
      try {
        this.worker.postMessage(request)
      } catch (cause) {
        return resume(Effect.fail(toSqlError(cause, operation)))
      }
      if (this.pending.push({ resume, operation }) === 1) this.worker.ref()
    })
  }

  /** A statement: SQL text, parameters bound on this thread, one round trip. */
  statement(op: StatementOp, operation: string, sql: string, params: ReadonlyArray<unknown>) {
    return this.request<any>([op, sql, toInputs(params)], operation)
  }

  readonly execute: SqlConnection.Connection["execute"] = (sql, params, transformRows) => {
    const rows = Effect.map(this.statement(Op.execute, "execute", sql, params), unpack)
    return transformRows ? Effect.map(rows, transformRows) : rows
  }
  readonly executeRaw: SqlConnection.Connection["executeRaw"] = (sql, params) =>
    this.statement(Op.raw, "executeRaw", sql, params)
  readonly executeValues: SqlConnection.Connection["executeValues"] = (sql, params) =>
    this.statement(Op.values, "executeValues", sql, params)
  readonly executeValuesUnprepared: SqlConnection.Connection["executeValuesUnprepared"] = (sql, params) =>
    this.statement(Op.valuesUnprepared, "executeValuesUnprepared", sql, params)
  readonly executeUnprepared: SqlConnection.Connection["executeUnprepared"] = (sql, params, transformRows) => {
    const rows = Effect.map(this.statement(Op.unprepared, "executeUnprepared", sql, params), unpack)
    return transformRows ? Effect.map(rows, transformRows) : rows
  }
  /** Pages of `streamChunkSize` rows, each fetched when the stream pulls; the worker's cursor is dropped when it ends. */
  readonly executeStream: SqlConnection.Connection["executeStream"] = (sql, params, transformRows) =>
    Stream.suspend(() => {
      const cursor = this.nextCursor++
      const inputs = toInputs(params)
      let open = true
      const page = (started: boolean) =>
        Effect.map(
          this.request<Chunk>(started ? [Op.nextChunk, cursor] : [Op.openCursor, sql, inputs, cursor], "executeStream"),
          ([rows, done]) => {
            if (done) open = false
            return [transformRows ? transformRows(rows) : rows, done ? Option.none() : Option.some(true)] as const
          }
        )
      return Stream.paginate(false, page).pipe(
        Stream.ensuring(Effect.sync(() => {
          if (open && this.exited === undefined) this.worker.postMessage([Op.closeCursor, cursor] satisfies Request)
        }))
      )
    })
}

/**
 * Starts a worker on the database and waits until it has opened it. Bounded:
 * opening waits for another process's lock at most the busy timeout per
 * statement; past a generous multiple of it the worker is given up.
 */
const start = (
  url: URL,
  options: OpenOptions,
  onExit: (thread: Thread, code: number) => void
): Effect.Effect<Thread, SqlError.SqlError> =>
  Effect.callback<Thread, SqlError.SqlError>((resume) => {
    let thread: Thread
    try {
      thread = new Thread(url, options, onExit)
    } catch (cause) {
      return resume(Effect.fail(toSqlError(cause, "open")))
    }
    thread.onReady = (ready) => {
      if (ready[0]) {
        thread.worker.unref()
        return resume(Effect.succeed(thread))
      }
      const exited = thread.exited !== undefined
      thread.closing = true
      void thread.worker.terminate()
      resume(Effect.fail(exited ? thread.error("open") : toSqlError(fromWire(ready[1]), "open")))
    }
    return Effect.sync(() => {
      thread.closing = true
      void thread.worker.terminate()
    })
  }).pipe(
    Effect.timeoutOrElse({
      duration: options.busyTimeoutMillis * 5 + 30_000,
      orElse: () =>
        Effect.fail(connectionError("the SQLite worker did not open the database in time", exitedCode, "open"))
    })
  )

/** Closes the database in the worker (after whatever is queued before it), then ends the worker; each step bounded. */
const stop = (thread: Thread): Effect.Effect<void> =>
  Effect.gen(function*() {
    thread.closing = true
    if (thread.exited !== undefined) return
    yield* thread.request([Op.close], "close").pipe(Effect.timeout("10 seconds"), Effect.ignore)
    yield* Effect.promise(() => thread.worker.terminate()).pipe(Effect.timeout("10 seconds"), Effect.ignore)
  })

/**
 * Starts the worker, opens the database in it and builds the client. The
 * database is closed and the worker ended when the scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteWorkerClient } from "@trawl/store"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const sql = yield* SqliteWorkerClient.make({ filename: "./trawl.db" })
 *   yield* sql`CREATE TABLE IF NOT EXISTS t (x INTEGER)`
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  config: SqliteClientConfig
): Effect.Effect<SqliteWorkerClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const options = openOptions(config)
    const url = workerModule()
    const context = yield* Effect.context<never>()
    let started = 0
    let closed = false

    const onExit = (thread: Thread, code: number) => {
      if (thread.closing) return
      Effect.runForkWith(context)(
        Effect.logWarning(
          options.filename === ":memory:"
            ? "the SQLite worker exited; its :memory: database is gone, and the client fails from now on"
            : "the SQLite worker exited; a fresh one takes over at the next statement"
        ).pipe(
          Effect.annotateLogs({
            database: options.filename,
            exitCode: code,
            ...(thread.lastError !== undefined ? { error: thread.lastError.message } : {})
          })
        )
      )
    }

    const launch = Effect.tap(start(url, options, onExit), () => Effect.sync(() => started++))
    let current: Thread = yield* Effect.acquireRelease(launch, () => Effect.suspend(() => stop(current)))
    yield* Effect.addFinalizer(() => Effect.sync(() => (closed = true)))

    // Runs holding the client's semaphore: one worker starts at a time.
    const connection: Effect.Effect<SqlConnection.Connection, SqlError.SqlError> = Effect.suspend(() => {
      if (current.exited === undefined) return Effect.succeed(current)
      if (closed) return Effect.fail(current.error("acquire"))
      if (options.filename === ":memory:") return Effect.fail(current.error("acquire"))
      return Effect.map(launch, (thread) => (current = thread))
    })

    const client = yield* makeClient({
      config,
      connection,
      runBatch: (conn, sqls, params, atomic) => {
        // A batch is mostly one statement many times: its text crosses once.
        const texts: Array<string> = []
        const index = new Map<string, number>()
        const refs = new Array<number>(sqls.length)
        for (let i = 0; i < sqls.length; i++) {
          let ref = index.get(sqls[i]!)
          if (ref === undefined) index.set(sqls[i]!, ref = texts.push(sqls[i]!) - 1)
          refs[i] = ref
        }
        return (conn as Thread).request<void>([Op.batch, texts, refs, params.map(toInputs), atomic], "executeBatch")
      },
      isTransaction: (conn) => {
        const thread = conn as Thread
        // A statement still in flight may have begun one; the worker ignores a ROLLBACK outside a transaction.
        return thread.exited === undefined && (thread.inTransaction || thread.pending.length > 0)
      }
    })
    const self = Object.assign(client, { config, workersStarted: () => started }) as SqliteWorkerClient
    workerOf.set(self, () => (closed || current.exited !== undefined ? undefined : current.worker))
    return self
  })

/**
 * A layer providing both `SqliteWorkerClient` and the generic `SqlClient`.
 *
 * @example
 * ```ts
 * import { SqliteWorkerClient } from "@trawl/store"
 *
 * const SqlLive = SqliteWorkerClient.layer({ filename: "./trawl.db" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  config: SqliteClientConfig
): Layer.Layer<SqliteWorkerClient | SqlClient.SqlClient, SqlError.SqlError> =>
  layerOf(SqliteWorkerClient, make(config))
