/**
 * The worker thread of `SqliteWorkerClient`: it owns one `node:sqlite`
 * connection (opened from `workerData`, an `OpenOptions`) and runs the
 * requests of `sqliteWorkerProtocol.ts` one at a time, replying to each in
 * order. It loads no Effect: only `node:sqlite` and the shared connection
 * code, so it starts in milliseconds.
 *
 * Loaded from `dist/` as `.js`, or as `.ts` source with Node's type
 * stripping (tests, `--conditions=@trawl/source`).
 */
import type { DatabaseSync } from "node:sqlite"
import { parentPort, workerData } from "node:worker_threads"
import {
  iterate,
  open,
  type OpenOptions,
  type PackedRows,
  prepare,
  readChunk,
  runBatchOn,
  runPrepared,
  runPacked,
  runRaw,
  StatementCache
} from "./sqliteConnection.ts"
import { type Chunk, Op, type Ready, type Reply, type Request, toWire } from "./sqliteWorkerProtocol.ts"

const port = parentPort!
const options = workerData as OpenOptions

const start = (): DatabaseSync | undefined => {
  try {
    const db = open(options)
    port.postMessage([true] satisfies Ready)
    return db
  } catch (error) {
    port.postMessage([false, toWire(error)] satisfies Ready)
    port.close()
    return undefined
  }
}

const db = start()

if (db !== undefined) {
  // Rows cross as `PackedRows` and a batch drops its rows, so all but `raw`'s statements read arrays.
  const arrays = new StatementCache(db, options.statementCacheSize, true)
  const objects = new StatementCache(db, Math.max(0, Math.floor(options.statementCacheSize / 4)), false)
  const noRows: PackedRows = [[], []]
  const cursors = new Map<number, Iterator<unknown>>()

  const chunkOf = (cursor: number, iterator: Iterator<unknown>): Chunk => {
    const { done, rows } = readChunk(iterator, options.streamChunkSize)
    if (done) cursors.delete(cursor)
    return [rows, done]
  }

  const run = (request: Request): unknown => {
    switch (request[0]) {
      case Op.execute:
        // The client's ROLLBACK after a failure is a no-op when SQLite has
        // already rolled back by itself (a full disk, a busy upgrade), or the
        // statement it follows was interrupted before it began a transaction.
        if (request[1] === "ROLLBACK" && !db.isTransaction) return noRows
        return runPacked(arrays.get(request[1]), request[2])
      case Op.raw:
        return runRaw(objects.get(request[1]), request[2])
      case Op.values:
        return runPrepared(arrays.get(request[1]), request[2])
      case Op.valuesUnprepared:
        return runPrepared(prepare(db, request[1], true), request[2])
      case Op.unprepared:
        if (request[1] === "ROLLBACK" && !db.isTransaction) return noRows
        return runPacked(prepare(db, request[1], true), request[2])
      case Op.openCursor: {
        const iterator = iterate(db, request[1], request[2])
        cursors.set(request[3], iterator)
        return chunkOf(request[3], iterator)
      }
      case Op.nextChunk: {
        const iterator = cursors.get(request[1])
        return iterator === undefined ? [[], true] satisfies Chunk : chunkOf(request[1], iterator)
      }
      case Op.batch: {
        const [, sqls, refs, params, atomic] = request
        runBatchOn(db, refs.length, (i) => arrays.get(sqls[refs[i]!]!), (i) => params[i]!, atomic)
        return undefined
      }
      case Op.close:
        cursors.clear()
        db.close()
        return undefined
    }
  }

  port.on("message", (request: Request) => {
    if (request[0] === Op.closeCursor) {
      cursors.delete(request[1])
      return
    }
    let reply: Reply
    try {
      reply = [true, run(request), db.isOpen && db.isTransaction]
    } catch (error) {
      reply = [false, toWire(error), db.isOpen && db.isTransaction]
    }
    port.postMessage(reply)
    if (request[0] === Op.close) port.close()
  })
}
