/**
 * The `node:sqlite` side of trawl's SQLite clients, free of Effect so that
 * the worker thread of `SqliteWorkerClient` loads nothing else: opening a
 * connection with trawl's pragmas, binding values, an LRU cache of prepared
 * statements, and reading a query in chunks. `SqliteClient` runs it on the
 * calling thread, `internal/sqliteWorker.ts` in a worker.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"

/** How to open a connection: `SqliteClientConfig` resolved to plain values (they cross to a worker as they are). */
export interface OpenOptions {
  readonly filename: string
  readonly readonly: boolean
  readonly busyTimeoutMillis: number
  readonly wal: boolean
  readonly walAutocheckpointPages: number
  readonly cacheSizeKiB: number
  readonly readBigInts: boolean
  readonly statementCacheSize: number
  readonly streamChunkSize: number
}

/**
 * Opens the database with trawl's pragmas. The last statement reads the
 * schema: a file that is not a database fails here rather than on some later
 * query. Throws node:sqlite's error (with `errcode`) on failure.
 */
export const open = (options: OpenOptions): DatabaseSync => {
  const db = new DatabaseSync(options.filename, {
    readOnly: options.readonly,
    timeout: options.busyTimeoutMillis,
    enableForeignKeyConstraints: true,
    readBigInts: options.readBigInts
  })
  try {
    if (options.filename !== ":memory:" && options.wal && !options.readonly) db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA synchronous = NORMAL")
    db.exec(`PRAGMA wal_autocheckpoint = ${options.walAutocheckpointPages}`)
    db.exec(`PRAGMA cache_size = -${options.cacheSizeKiB}`)
    db.prepare("SELECT count(*) FROM sqlite_schema").get()
  } catch (error) {
    db.close()
    throw error
  }
  return db
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

/** Statement parameters as SQLite binds them: booleans as 0/1, dates as ISO text, other objects as JSON. */
export const toInputs = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => {
  const out = new Array<SQLInputValue>(params.length)
  for (let i = 0; i < params.length; i++) out[i] = toInput(params[i])
  return out
}

/**
 * A prepared statement, whether it returns rows (SELECT, or a write with
 * RETURNING), and the names of its result columns.
 */
export interface Prepared {
  readonly statement: StatementSync
  readonly reader: boolean
  readonly columns: ReadonlyArray<string>
}

/** Prepares `sql`, reading rows as arrays when `arrays`. */
export const prepare = (db: DatabaseSync, sql: string, arrays: boolean): Prepared => {
  const statement = db.prepare(sql)
  if (arrays) statement.setReturnArrays(true)
  const columns = statement.columns().map((column) => column.name)
  return { statement, reader: columns.length > 0, columns }
}

/**
 * A least-recently-used cache of prepared statements. A `Map` keeps insertion
 * order, so re-inserting on a hit moves the entry to the young end.
 */
export class StatementCache {
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

/** The two statement caches of a connection: rows as objects, and (a quarter the size) as arrays. */
export const statementCaches = (db: DatabaseSync, size: number) => ({
  objects: new StatementCache(db, size, false),
  arrays: new StatementCache(db, Math.max(0, Math.floor(size / 4)), true)
})

/** Runs a statement: its rows when it returns any, else none. */
export const runPrepared = (prepared: Prepared, params: ReadonlyArray<unknown>): Array<any> => {
  const inputs = toInputs(params)
  if (prepared.reader) return prepared.statement.all(...inputs)
  prepared.statement.run(...inputs)
  return []
}

/**
 * Rows packed for `postMessage`: the column names once, then every row's
 * values one after another. Rows as objects carry their keys in every row:
 * for 1,000 observations (13 columns) the worker's `store.history` took
 * 12.5 ms as objects and 6 ms packed, most of the difference in cloning.
 */
export type PackedRows = readonly [columns: ReadonlyArray<string>, values: ReadonlyArray<unknown>]

/** Runs an array statement (`prepare(db, sql, true)`) and packs its rows. */
export const runPacked = (prepared: Prepared, params: ReadonlyArray<unknown>): PackedRows => {
  const inputs = toInputs(params)
  if (!prepared.reader) {
    prepared.statement.run(...inputs)
    return [prepared.columns, []]
  }
  const rows = prepared.statement.all(...inputs) as unknown as ReadonlyArray<ReadonlyArray<unknown>>
  const values: Array<unknown> = []
  for (const row of rows) for (let i = 0; i < row.length; i++) values.push(row[i])
  return [prepared.columns, values]
}

/** The rows of `PackedRows` as objects again (a later column of the same name wins, as in node:sqlite's own objects). */
export const unpack = ([columns, values]: PackedRows): Array<Record<string, unknown>> => {
  const width = columns.length
  const rows = new Array<Record<string, unknown>>(width === 0 ? 0 : values.length / width)
  for (let r = 0, at = 0; r < rows.length; r++) {
    const row: Record<string, unknown> = {}
    for (let i = 0; i < width; i++) row[columns[i]!] = values[at++]
    rows[r] = row
  }
  return rows
}

/**
 * Runs a batch's statements in order, stopping at the first failure (rows
 * dropped); `atomic`: inside a transaction of their own (`BEGIN IMMEDIATE`),
 * rolled back when one fails.
 */
export const runBatchOn = (
  db: DatabaseSync,
  count: number,
  prepared: (index: number) => Prepared,
  params: (index: number) => ReadonlyArray<unknown>,
  atomic: boolean
): void => {
  if (atomic) db.exec("BEGIN IMMEDIATE")
  try {
    for (let i = 0; i < count; i++) runPrepared(prepared(i), params(i))
    if (atomic) db.exec("COMMIT")
  } catch (error) {
    if (atomic && db.isTransaction) db.exec("ROLLBACK")
    throw error
  }
}

/** Runs a statement as `executeRaw` does: its rows, or `{ changes, lastInsertRowid }` for a write. */
export const runRaw = (prepared: Prepared, params: ReadonlyArray<unknown>): unknown => {
  const inputs = toInputs(params)
  return prepared.reader ? prepared.statement.all(...inputs) : prepared.statement.run(...inputs)
}

/**
 * Starts a streamed query, on a statement of its own: a cached one could be
 * reset under the iterator by another query on this connection.
 */
export const iterate = (db: DatabaseSync, sql: string, params: ReadonlyArray<unknown>): Iterator<unknown> =>
  db.prepare(sql).iterate(...toInputs(params))

/** Up to `size` rows of a streamed query, and whether it is done. */
export const readChunk = (
  iterator: Iterator<unknown>,
  size: number
): { readonly rows: Array<Record<string, unknown>>; readonly done: boolean } => {
  const rows: Array<Record<string, unknown>> = []
  while (rows.length < size) {
    const next = iterator.next()
    if (next.done === true) return { rows, done: true }
    rows.push(next.value as Record<string, unknown>)
  }
  return { rows, done: false }
}
