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
 * Any other database failure (connection lost, unexpected SQL error).
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const error = new StoreError.StorageFailure({ operation: "recordObservations", detail: "connection reset" })
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
  | SchemaTooNew
  | DiskFull
  | DuplicateTarget
  | InvalidUrl
  | TargetNotFound
  | StorageFailure

/**
 * Errors of the database itself (as opposed to bad input).
 *
 * @example
 * ```ts
 * import { StoreError } from "@trawl/store"
 *
 * const retryable = (error: StoreError.DatabaseError) => error._tag === "DatabaseLocked"
 * ```
 *
 * @since 0.1.0
 */
export type DatabaseError = DatabaseCorrupt | DatabaseLocked | DiskFull | StorageFailure

const codeOf = (cause: unknown): { readonly sqlite?: number; readonly pg?: string } => {
  if (typeof cause !== "object" || cause === null) return {}
  const errcode = (cause as { errcode?: unknown }).errcode
  if (typeof errcode === "number") return { sqlite: errcode }
  const code = (cause as { code?: unknown }).code
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return { pg: code }
  return {}
}

/**
 * Classifies a driver error: corrupt file, lock, full disk, or a plain
 * storage failure. Works for both `node:sqlite` (SQLite result codes) and
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
    if (code.pg === "55P03") return new DatabaseLocked({ database, detail, cause: error })
    if (code.pg === "XX001" || code.pg === "XX002") return new DatabaseCorrupt({ database, detail, cause: error })
  }
  return new StorageFailure({ operation, detail, cause: error })
}
