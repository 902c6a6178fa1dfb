/**
 * The entry module of every pool thread: loads the handler module named in
 * `workerData`, reports ready, then serves `[taskId, request]` messages one at
 * a time. Runs from `src/internal/runner.ts` (type-stripped by Node) or from
 * `dist/internal/runner.js`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { getHeapStatistics } from "node:v8"
import { parentPort, type Transferable, workerData } from "node:worker_threads"
import * as WorkerHandler from "../WorkerHandler.ts"
import { type Codec, compile, describe, describeCause } from "./codec.ts"
import * as Wire from "./wire.ts"

const port = parentPort!

const heapHeld = (): number => {
  const stats = getHeapStatistics()
  return stats.used_heap_size + stats.external_memory
}
const data = workerData as Wire.RunnerData

const loadFailed = (reason: string): void => {
  port.postMessage([Wire.CONTROL, Wire.LOAD_FAILED, reason])
  process.exit(70)
}

let definition: WorkerHandler.WorkerHandler<any> | undefined
try {
  const module = await import(data.handler)
  const candidate = module.default ?? module.handler
  if (WorkerHandler.isWorkerHandler(candidate)) definition = candidate
  else loadFailed(`${data.handler} does not export a WorkerHandler (export default WorkerHandler.make(protocol, handlers))`)
} catch (error) {
  loadFailed(`cannot load ${data.handler}: ${describe(error)}`)
}

if (definition !== undefined) {
  const codecs = compile(definition.protocol)
  const handlers = definition.handlers as Record<string, (request: unknown) => unknown>
  const reportHeap = data.reportHeap

  let startedAt = 0
  // the reply of the current task (a typed failure and its transferables included)
  let outbox: Array<unknown> = []
  let outboxTransfer: Array<Transferable> | undefined
  const flush = (): void => {
    if (outbox.length === 0) return
    const message = outbox
    const transfer = outboxTransfer
    outbox = []
    outboxTransfer = undefined
    port.postMessage(message, transfer)
  }
  const reply = (id: number, kind: number, payload: unknown, transfer?: ReadonlyArray<Transferable>): void => {
    // bytes held by this thread: the V8 heap plus ArrayBuffers outside it (pages are bytes)
    const heap = reportHeap ? heapHeld() : 0
    outbox.push(id, kind, payload, heap, performance.now() - startedAt)
    if (transfer !== undefined && transfer.length > 0) (outboxTransfer ??= []).push(...transfer)
  }

  const succeed = (id: number, codec: Codec, value: unknown): void => {
    const encoded = codec.encodeSuccess(value)
    if (encoded._tag === "Ok") reply(id, Wire.SUCCESS, encoded.value, encoded.transfer)
    else reply(id, Wire.INVALID_RESPONSE, encoded.reason)
  }

  const fail = (id: number, codec: Codec, error: unknown): void => {
    if (codec.encodeError === undefined) return reply(id, Wire.DEFECT, `unexpected typed error: ${describe(error)}`)
    const encoded = codec.encodeError(error)
    if (encoded._tag === "Ok") reply(id, Wire.FAILURE, encoded.value, encoded.transfer)
    else reply(id, Wire.INVALID_RESPONSE, `error does not match the error schema: ${encoded.reason}`)
  }

  const settle = (id: number, codec: Codec, exit: Exit.Exit<unknown, unknown>): void => {
    if (Exit.isSuccess(exit)) return succeed(id, codec, exit.value)
    const failure = exit.cause.reasons.find(Cause.isFailReason)
    if (failure !== undefined) return fail(id, codec, failure.error)
    reply(id, Wire.DEFECT, describeCause(exit.cause))
  }

  // One task at a time, in arrival order: the pool counts on it (prefetched tasks wait here; a crash hits the first).
  const inbox: Array<[number, { readonly _tag?: unknown } | undefined]> = []
  let running = false

  /**
   * Every reply leaves before the next task starts: were the next one stuck, a
   * reply held back would make the pool blame the wrong task at the deadline.
   */
  const done = (): void => {
    running = false
    flush()
    const next = inbox.shift()
    if (next !== undefined) run(next[0], next[1])
  }

  const run = (id: number, encoded: { readonly _tag?: unknown } | undefined): void => {
    running = true
    startedAt = performance.now()
    const tag = typeof encoded === "object" && encoded !== null ? encoded._tag : undefined
    const codec = typeof tag === "string" ? codecs.get(tag) : undefined
    if (codec === undefined) {
      reply(id, Wire.INVALID_REQUEST, `unknown request tag ${String(tag)}`)
      return done()
    }
    const decoded = codec.decodeRequest(encoded)
    if (Exit.isFailure(decoded)) {
      reply(id, Wire.INVALID_REQUEST, Cause.squash(decoded.cause) as string)
      return done()
    }
    let result: unknown
    try {
      result = handlers[codec.tag]!(decoded.value)
    } catch (error) {
      reply(id, Wire.DEFECT, describe(error))
      return done()
    }
    if (Effect.isEffect(result)) {
      flush()
      Effect.runCallback(result as Effect.Effect<unknown, unknown>, {
        onExit: (exit) => {
          settle(id, codec, exit)
          done()
        }
      })
    } else if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      flush()
      ;(result as PromiseLike<unknown>).then(
        (value) => {
          succeed(id, codec, value)
          done()
        },
        (error) => {
          reply(id, Wire.DEFECT, describe(error))
          done()
        }
      )
    } else {
      succeed(id, codec, result)
      done()
    }
  }

  port.on("message", (message: unknown) => {
    if (message === Wire.CLOSE) return port.close()
    // a batch: [id, request, id, request, …]
    const batch = message as Array<any>
    for (let i = 0; i + 1 < batch.length; i += 2) inbox.push([batch[i], batch[i + 1]])
    if (!running) {
      const next = inbox.shift()
      if (next !== undefined) run(next[0], next[1])
    }
  })

  port.postMessage([Wire.CONTROL, Wire.READY])
}
