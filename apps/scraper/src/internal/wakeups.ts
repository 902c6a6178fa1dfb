/**
 * Timers for many actors, served by one fiber: a min-heap of wake-up times
 * and one sleep, until the earliest. Host actors wait out a host's spacing
 * between starts (every page but a host's first); a fiber forked per wait —
 * a fiber, a finalizer in the run's scope and a sleep each — was a per-page
 * cost of the event loop for what is one entry in a heap here.
 *
 * A wake-up earlier than the one slept for (a short Retry-After among long
 * spacings) starts a new sleep that takes over; the old one ends unserved
 * when it fires.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

interface Entry<A> {
  readonly at: number
  readonly target: A
}

export class Wakeups<A> {
  private readonly heap: Array<Entry<A>> = []
  /** The sleep that serves the heap: its generation and the time it sleeps until. */
  private generation = 0
  private armedAt: number | undefined = undefined

  /** What a due wake-up does (it should not fail). */
  private readonly fire: (target: A) => Effect.Effect<void>
  /** Where the serving fiber runs: it ends with this scope. */
  private readonly scope: Scope.Scope

  constructor(fire: (target: A) => Effect.Effect<void>, scope: Scope.Scope) {
    this.fire = fire
    this.scope = scope
  }

  /** Wakes `target` at `at` (epoch ms) or a little after, never before. */
  add(at: number, target: A): Effect.Effect<void> {
    this.push({ at, target })
    if (this.armedAt !== undefined && this.armedAt <= at) return Effect.void
    this.armedAt = at
    return Effect.asVoid(Effect.forkIn(this.serve(++this.generation, at), this.scope))
  }

  /** Wake-ups waiting. */
  get size(): number {
    return this.heap.length
  }

  /** Sleeps started so far (each a fiber). */
  get sleepsStarted(): number {
    return this.generation
  }

  private serve(generation: number, until: number): Effect.Effect<void> {
    const self = this
    return Effect.gen(function*() {
      let wakeAt = until
      while (true) {
        yield* Effect.sleep(Math.max(0, wakeAt - (yield* Clock.currentTimeMillis)))
        // an earlier wake-up started a sleep of its own, which serves the heap from now on
        if (generation !== self.generation) return
        const now = yield* Clock.currentTimeMillis
        while (self.heap.length > 0 && self.heap[0]!.at <= now) yield* self.fire(self.pop())
        if (self.heap.length === 0) {
          self.armedAt = undefined
          return
        }
        wakeAt = self.armedAt = self.heap[0]!.at
      }
    })
  }

  private push(entry: Entry<A>): void {
    const heap = this.heap
    let at = heap.push(entry) - 1
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (heap[parent]!.at <= entry.at) break
      heap[at] = heap[parent]!
      at = parent
    }
    heap[at] = entry
  }

  private pop(): A {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      let at = 0
      while (true) {
        const left = 2 * at + 1
        if (left >= heap.length) break
        const right = left + 1
        const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left
        if (heap[child]!.at >= last.at) break
        heap[at] = heap[child]!
        at = child
      }
      heap[at] = last
    }
    return top.target
  }
}
