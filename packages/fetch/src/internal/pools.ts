/**
 * The undici `Agent`'s per-origin dispatchers, lighter.
 *
 * undici gives every origin with more than one connection a `Pool`, and
 * every `Pool` a queue of waiting requests that starts as a fixed ring of
 * 2,048 slots — 16 KB per origin before anything waits. A crawl keeps
 * thousands of origins open (1,000 origins = 16 MB), while our host gates
 * already bound the requests per host to its connections, so that queue is
 * nearly always empty. The factory here swaps it for a queue that grows from
 * nothing. The swap relies on undici internals (a `Pool` own property whose
 * symbol is named `queue`, used only through `isEmpty`/`push`/`shift`); when
 * they are not as expected, the pool is left as undici made it.
 *
 * @internal
 */
import { Client, type Dispatcher, errors, Pool } from "undici"

/** FIFO with undici's queue interface: `shift` returns `null` when empty. */
export class GrowingQueue<A> {
  private items: Array<A | undefined> = []
  private head = 0

  isEmpty(): boolean {
    return this.head === this.items.length
  }

  push(item: A): void {
    this.items.push(item)
  }

  shift(): A | null {
    if (this.head === this.items.length) return null
    const item = this.items[this.head]!
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Drop the consumed front now and then, so a long-lived queue does not keep growing.
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }
}

interface UndiciQueue {
  isEmpty(): boolean
  push(item: unknown): void
  shift(): unknown
}

const isQueue = (value: unknown): value is UndiciQueue =>
  typeof value === "object" && value !== null && typeof (value as UndiciQueue).isEmpty === "function" &&
  typeof (value as UndiciQueue).push === "function" && typeof (value as UndiciQueue).shift === "function"

/** Swaps a new pool's request queue for a `GrowingQueue`; true when it did. */
export const lighten = (pool: Pool): boolean => {
  for (const key of Object.getOwnPropertySymbols(pool)) {
    if (key.description !== "queue") continue
    const queue = (pool as unknown as Record<symbol, unknown>)[key]
    if (!isQueue(queue) || !queue.isEmpty()) return false
    ;(pool as unknown as Record<symbol, unknown>)[key] = new GrowingQueue()
    return true
  }
  return false
}

/**
 * The reason an origin's dispatcher is destroyed by its `close()` (the Agent
 * closes one when its last connection has gone): one error made once.
 * undici's `destroy()` without an error makes a `ClientDestroyedError` for
 * every call — a stack trace per origin that went idle, for nobody (a closed
 * dispatcher has no request left to fail).
 */
const closedWhenIdle = new errors.ClientDestroyedError()

type Destroy = (this: Dispatcher, err?: unknown, callback?: unknown) => unknown

/** Makes `destroy()` without an error destroy with `closedWhenIdle` (a Pool passes it on to its clients). */
export const quiet = <D extends Dispatcher>(dispatcher: D): D => {
  const destroy = dispatcher.destroy as unknown as Destroy
  ;(dispatcher as unknown as { destroy: Destroy }).destroy = function(err, callback) {
    if (typeof err === "function") return destroy.call(this, closedWhenIdle, err)
    return destroy.call(this, err ?? closedWhenIdle, callback)
  }
  return dispatcher
}

/** A pool's connection: closed quietly too (a pool closes each of its clients, and each made its own error). */
const quietClient = (origin: string | URL, options: Client.Options): Dispatcher => quiet(new Client(origin, options))

/** The `Agent` factory: undici's default choice (a `Client` for one connection), pools lightened, closed quietly. */
export const factory = (origin: string | URL, options: Pool.Options): Dispatcher => {
  if (options.connections === 1) return quiet(new Client(origin, options))
  const pool = new Pool(origin, { ...options, factory: quietClient })
  lighten(pool)
  return quiet(pool)
}
