/**
 * The store's typed errors. Each says what went wrong in one line a user can
 * act on; the driver's error stays available as `cause` where there is one.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as SqlError from "effect/sql/SqlError"

/**
 * The database file is not a database, or its pages are damaged.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.DatabaseCorrupt({ database: "./trawl.db", detail: "file is not a database" })
 * ```
 *
 * @since 0.1.0
 */
export class DatabaseCorrupt extends Data.TaggedError("DatabaseCorrupt")<{
  readonly database: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.database} is corrupt or not a trawl database (${this.detail}); restore a backup or point trawl at a new file`
  }
}

/**
 * Another process holds a lock on the database longer than the busy timeout.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.DatabaseLocked({ database: "./trawl.db", detail: "database is locked" })
 * ```
 *
 * @since 0.1.0
 */
export class DatabaseLocked extends Data.TaggedError("DatabaseLocked")<{
  readonly database: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.database} is locked by another process (${this.detail}); is another trawl running on it?`
  }
}

/**
 * The database server cannot be reached for now: the connection was refused,
 * reset or timed out, or the server is shutting down, restarting or starting
 * (Postgres SQLSTATE class 08, 57P01 admin_shutdown, 57P02 crash_shutdown,
 * 57P03 cannot_connect_now; node's ECONNREFUSED, ECONNRESET, EPIPE,
 * ETIMEDOUT; a connection closed or terminated under a statement; the worker
 * thread of `SqliteWorkerClient` exited under a statement). Transient:
 * the same store works again once the server is back (the pool opens new
 * connections), and a write that failed with it was rolled back, or, when
 * only its acknowledgement was lost, is a no-op when replayed (idempotency keys).
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.DatabaseUnavailable({ database: "postgres://db.internal/trawl", detail: "connect ECONNREFUSED 10.0.0.5:5432" })
 * StoreError.isTransient(error) // true
 * ```
 *
 * @since 0.1.0
 */
export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{
  readonly database: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return /SQLite worker exited/.test(this.detail)
      ? `${this.database} is unavailable (${this.detail})`
      : `${this.database} is unavailable (${this.detail}); is the database server running and reachable?`
  }
}

/**
 * The database was migrated by a newer trawl than this one.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.SchemaTooNew({ database: "./trawl.db", found: 7, supported: 1 })
 * ```
 *
 * @since 0.1.0
 */
export class SchemaTooNew extends Data.TaggedError("SchemaTooNew")<{
  readonly database: string
  readonly found: number
  readonly supported: number
}> {
  override get message(): string {
    return `${this.database} has schema version ${this.found}, this trawl knows up to ${this.supported}; upgrade trawl`
  }
}

/**
 * The disk (or the database's size limit) is full; the write was rolled back.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.DiskFull({ database: "./trawl.db", detail: "database or disk is full" })
 * ```
 *
 * @since 0.1.0
 */
export class DiskFull extends Data.TaggedError("DiskFull")<{
  readonly database: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.database}: disk full (${this.detail}); nothing of the failed write was kept`
  }
}

/**
 * A target with this URL already exists.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.DuplicateTarget({ url: "https://shop.example/p/1" })
 * ```
 *
 * @since 0.1.0
 */
export class DuplicateTarget extends Data.TaggedError("DuplicateTarget")<{
  readonly url: string
}> {
  override get message(): string {
    return `a target for ${this.url} already exists`
  }
}

/**
 * A target URL failed validation.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.InvalidUrl({ url: "ftp://x", reason: "only http and https are watched" })
 * ```
 *
 * @since 0.1.0
 */
export class InvalidUrl extends Data.TaggedError("InvalidUrl")<{
  readonly url: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid target URL ${JSON.stringify(this.url.slice(0, 200))}: ${this.reason}`
  }
}

/**
 * An alert rule the store was handed is not a rule in canonical form
 * (`AlertRule.RuleText`); parse what a user typed with `AlertRule.parseList`.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * new StoreError.InvalidAlertRule({ rule: "below cheap" }).message
 * ```
 *
 * @since 0.4.0
 */
export class InvalidAlertRule extends Data.TaggedError("InvalidAlertRule")<{
  readonly rule: string
}> {
  override get message(): string {
    return `alert rule ${JSON.stringify(this.rule.slice(0, 200))} is not a rule in canonical form`
  }
}

/**
 * No target has this id.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.TargetNotFound({ id: 42 })
 * ```
 *
 * @since 0.1.0
 */
export class TargetNotFound extends Data.TaggedError("TargetNotFound")<{
  readonly id: number
}> {
  override get message(): string {
    return `no target with id ${this.id}`
  }
}

/**
 * Any other database failure (an unexpected SQL error, a bad connection
 * setting or password, an unknown host). Not transient.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.StorageFailure({ operation: "recordObservations", detail: "syntax error at or near \"SELEC\"" })
 * ```
 *
 * @since 0.1.0
 */
export class StorageFailure extends Data.TaggedError("StorageFailure")<{
  readonly operation: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `store ${this.operation} failed: ${this.detail}`
  }
}

/**
 * Every error of the store.
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const describe = (error: StoreError.StoreError) => `${error._tag}: ${error.message}`
 * ```
 *
 * @since 0.1.0
 */
export type StoreError =
  | DatabaseCorrupt
  | DatabaseLocked
  | DatabaseUnavailable
  | SchemaTooNew
  | DiskFull
  | DuplicateTarget
  | InvalidUrl
  | InvalidAlertRule
  | TargetNotFound
  | StorageFailure

/**
 * Errors of the database itself (as opposed to bad input).
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const describe = (error: StoreError.DatabaseError) => StoreError.isTransient(error) ? "retrying" : error.message
 * ```
 *
 * @since 0.1.0
 */
export type DatabaseError = DatabaseCorrupt | DatabaseLocked | DatabaseUnavailable | DiskFull | StorageFailure

/**
 * Whether retrying may succeed: true for `DatabaseLocked` (another writer
 * holds a lock: SQLite busy/locked, Postgres lock_not_available, deadlock or
 * serialization failure) and `DatabaseUnavailable` (the server is down,
 * restarting or unreachable); false for every other error (a corrupt file,
 * a full disk, a newer schema, an unexpected SQL error, bad input), which
 * retrying does not fix. A write that failed transiently left nothing
 * behind, so the same call can be retried as it is.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { StoreError } from "@trawl/store"
 *
 * // retry transient failures with backoff, give up on the others at once
 * const resilient = <A, E>(effect: Effect.Effect<A, E>) =>
 *   Effect.retry(effect, {
 *     while: StoreError.isTransient,
 *     schedule: Schedule.exponential("100 millis")
 *   })
 *
 * StoreError.isTransient(new StoreError.DatabaseLocked({ database: "./trawl.db", detail: "database is locked" })) // true
 * StoreError.isTransient(new StoreError.DiskFull({ database: "./trawl.db", detail: "database or disk is full" })) // false
 * StoreError.isTransient(new Error("not a store error")) // false
 * ```
 *
 * @since 0.1.0
 */
export const isTransient = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const tag = (error as { _tag?: unknown })._tag
  // by tag, not class: an error from another copy of this module (source and build both loaded) counts too
  return tag === "DatabaseLocked" || tag === "DatabaseUnavailable"
}

const codeOf = (cause: unknown): { readonly sqlite?: number; readonly pg?: string; readonly node?: string } => {
  if (typeof cause !== "object" || cause === null) return {}
  const errcode = (cause as { errcode?: unknown }).errcode
  if (typeof errcode === "number") return { sqlite: errcode }
  const code = (cause as { code?: unknown }).code
  // node's codes (EPIPE) start with E, which no SQLSTATE class does
  if (typeof code === "string" && /^E[A-Z_]+$/.test(code)) return { node: code }
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return { pg: code }
  return {}
}

/** Node's socket errors that mean "not reachable for now". */
const unreachable = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN"])

/**
 * A connection lost or never made: how `@effect/sql-pg` (its own wire
 * protocol, not the `pg` driver) reports it is a `ConnectionError` reason
 * whose cause is node's socket error (`ECONNREFUSED`, …) or a plain
 * `Error("Connection closed")`; the `pg` driver says "Connection terminated".
 * Its configuration errors are `ConnectionError`s too, and are not transient.
 */
const lostConnection = /connection (closed|terminated|timed out|reset)|closed unexpectedly|socket error/i

const messageOf = (value: unknown): string =>
  typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string"
    ? (value as { message: string }).message
    : ""

/** The driver's own words when it has them ("connect ECONNREFUSED 127.0.0.1:5432"), else the SqlError's. */
const unavailableDetail = (cause: unknown, detail: string): string => {
  const message = messageOf(cause)
  return message !== "" ? message : detail
}

/**
 * Classifies a driver error: corrupt file, lock, full disk, unavailable
 * server, or a plain storage failure. Works for both `node:sqlite` (SQLite result codes) and
 * Postgres (SQLSTATE).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { StoreError } from "@trawl/store"
 *
 * const guarded = <A, E>(effect: Effect.Effect<A, E>) =>
 *   Effect.mapError(effect, (error) => StoreError.fromSqlError(error, "./trawl.db", "query"))
 * ```
 *
 * @since 0.1.0
 */
export const fromSqlError = (error: unknown, database: string, operation: string): DatabaseError => {
  const cause = SqlError.isSqlError(error) ? error.reason.cause : error
  const reason = SqlError.isSqlError(error) ? error.reason : undefined
  const detail = SqlError.isSqlError(error)
    ? error.message
    : error instanceof Error
    ? error.message
    : String(error)
  const code = codeOf(cause)
  if (code.sqlite !== undefined) {
    switch (code.sqlite & 0xff) {
      case 11:
      case 26:
        return new DatabaseCorrupt({ database, detail, cause: error })
      case 5:
      case 6:
        return new DatabaseLocked({ database, detail, cause: error })
      case 13:
        return new DiskFull({ database, detail, cause: error })
    }
  }
  if (code.pg !== undefined) {
    if (code.pg === "53100") return new DiskFull({ database, detail, cause: error })
    // lock_not_available (lock_timeout), serialization_failure, deadlock_detected: another session's locks
    if (code.pg === "55P03" || code.pg === "40001" || code.pg === "40P01") {
      return new DatabaseLocked({ database, detail, cause: error })
    }
    if (code.pg === "XX001" || code.pg === "XX002") return new DatabaseCorrupt({ database, detail, cause: error })
    // connection exceptions; admin_shutdown, crash_shutdown, cannot_connect_now
    if (code.pg.startsWith("08") || code.pg === "57P01" || code.pg === "57P02" || code.pg === "57P03") {
      return new DatabaseUnavailable({ database, detail: unavailableDetail(cause, detail), cause: error })
    }
  }
  // SqliteWorkerClient: the worker thread holding the connection died; its
  // transaction was rolled back and the next statement starts a fresh one.
  if (code.node === "ERR_SQLITE_WORKER_EXITED") {
    return new DatabaseUnavailable({ database, detail, cause: error })
  }
  if (code.node !== undefined && unreachable.has(code.node)) {
    return new DatabaseUnavailable({ database, detail: unavailableDetail(cause, detail), cause: error })
  }
  if (
    code.pg === undefined && code.sqlite === undefined &&
    (reason === undefined || reason._tag === "ConnectionError" || reason._tag === "UnknownError") &&
    (lostConnection.test(messageOf(cause)) || (reason === undefined && lostConnection.test(detail)))
  ) {
    return new DatabaseUnavailable({ database, detail: unavailableDetail(cause, detail), cause: error })
  }
  return new StorageFailure({ operation, detail, cause: error })
}
