/**
 * The messages between `SqliteWorkerClient` (the calling thread) and its
 * worker (`internal/sqliteWorker.ts`). Compact arrays, structured-cloned by
 * `postMessage`: statements go by their SQL text (the worker prepares and
 * caches them), parameters already bound to SQLite values (`toInputs`).
 *
 * Every request but `closeCursor` gets exactly one reply, in order: the
 * worker runs one message at a time, so the calling thread matches replies to
 * its requests first in, first out.
 */
import type { SQLInputValue } from "node:sqlite"

/** Request kinds. */
export const Op = {
  /** `[execute, sql, params]`: rows as `PackedRows`, objects again on the calling thread (cached statement). */
  execute: 0,
  /** `[raw, sql, params]`: rows, or `{ changes, lastInsertRowid }` (cached statement). */
  raw: 1,
  /** `[values, sql, params]`: rows as arrays (cached statement). */
  values: 2,
  /** `[valuesUnprepared, sql, params]`: rows as arrays (statement of its own). */
  valuesUnprepared: 3,
  /** `[unprepared, sql, params]`: rows as `PackedRows` (statement of its own). */
  unprepared: 4,
  /** `[openCursor, sql, params, cursor]`: starts a streamed query; replies with its first chunk. */
  openCursor: 5,
  /** `[nextChunk, cursor]`: the next chunk of a streamed query. */
  nextChunk: 6,
  /** `[closeCursor, cursor]`: drops a streamed query (no reply). */
  closeCursor: 7,
  /** `[close]`: closes the database; the worker then ends. */
  close: 8,
  /**
   * `[batch, sqls, refs, params, atomic]`: statements `sqls[refs[i]]` with `params[i]`, in a row
   * (cached), rows dropped; stops at the first failure; `atomic`: in a transaction of their own.
   * Each distinct text crosses once.
   */
  batch: 9
} as const

/** The kinds of request that run one statement. */
export type StatementOp =
  | typeof Op.execute
  | typeof Op.raw
  | typeof Op.values
  | typeof Op.valuesUnprepared
  | typeof Op.unprepared

export type Request =
  | readonly [op: StatementOp, sql: string, params: ReadonlyArray<SQLInputValue>]
  | readonly [op: typeof Op.openCursor, sql: string, params: ReadonlyArray<SQLInputValue>, cursor: number]
  | readonly [op: typeof Op.nextChunk | typeof Op.closeCursor, cursor: number]
  | readonly [op: typeof Op.close]
  | readonly [
    op: typeof Op.batch,
    sqls: ReadonlyArray<string>,
    refs: ReadonlyArray<number>,
    params: ReadonlyArray<ReadonlyArray<SQLInputValue>>,
    atomic: boolean
  ]

/** A chunk of a streamed query: its rows, and whether it was the last. */
export type Chunk = readonly [rows: ReadonlyArray<Record<string, unknown>>, done: boolean]

/**
 * A reply: success and its value (rows, a raw result, a `Chunk`), or failure
 * and the error; and whether a transaction is open on the connection now.
 */
export type Reply =
  | readonly [ok: true, value: unknown, inTransaction: boolean]
  | readonly [ok: false, error: WireError, inTransaction: boolean]

/** The first message of a worker: the database is open, or why it could not be opened. */
export type Ready = readonly [ok: true] | readonly [ok: false, error: WireError]

/** An error as it crosses the thread: node:sqlite's `code` / `errcode` / `errstr` and message. */
export interface WireError {
  readonly name: string
  readonly message: string
  readonly code?: string
  readonly errcode?: number
  readonly errstr?: string
}

/** The error thrown in the worker, in a form `postMessage` keeps whole. */
export const toWire = (error: unknown): WireError => {
  if (typeof error !== "object" || error === null) return { name: "Error", message: String(error) }
  const { code, errcode, errstr, message, name } = error as Record<string, unknown>
  return {
    name: typeof name === "string" ? name : "Error",
    message: typeof message === "string" ? message : String(error),
    ...(typeof code === "string" ? { code } : {}),
    ...(typeof errcode === "number" ? { errcode } : {}),
    ...(typeof errstr === "string" ? { errstr } : {})
  }
}

/** The error again, on the calling thread: an `Error` with the same message, `code`, `errcode` and `errstr`. */
export const fromWire = (wire: WireError): Error => {
  const error = new Error(wire.message)
  error.name = wire.name
  if (wire.code !== undefined) Object.assign(error, { code: wire.code })
  if (wire.errcode !== undefined) Object.assign(error, { errcode: wire.errcode })
  if (wire.errstr !== undefined) Object.assign(error, { errstr: wire.errstr })
  return error
}
