import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ActorError } from "@trawl/actor"
import { WorkerError, WorkerPool } from "@trawl/worker"
import { Inc, Misbehave, Protocol, Spin } from "./fixtures/protocol.ts"
import { eventually, expect, handler, osThreads, warmUp } from "./helpers.ts"

const loop = new Misbehave({ kind: "loop", code: 0, delayMs: 0 })

describe("deadlines and interruption", () => {
  it.live("an infinite loop is killed at its deadline (TaskTimeout) and its slot is reused by a fresh thread", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, taskDeadline: "250 millis" })
      const before = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      const started = performance.now()
      const error = yield* Effect.flip(WorkerPool.ask(pool, loop, { timeout: "10 seconds" }))
      const waited = performance.now() - started
      assert.instanceOf(error, WorkerError.TaskTimeout)
      assert.strictEqual((error as WorkerError.TaskTimeout).deadlineMillis, 250)
      assert.isAtLeast(waited, 240)
      assert.isBelow(waited, 2000, "the deadline, not the ask timeout, ended it")
      // the only slot is free again: a fresh thread takes the next task
      const after = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      assert.notStrictEqual(after, before)
      const stats = yield* WorkerPool.stats(pool)
      assert.strictEqual(stats.timedOut, 1)
      assert.strictEqual(stats.crashes, 0, "a deadline kill is not a crash")
      yield* eventually(Effect.suspend(() => expect(osThreads() === baseline + 1, `threads: ${osThreads()} vs ${baseline + 1}`)))
    })))

  it.live("a per-ask deadline overrides the pool's; tasks queued behind a stuck one still run", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, prefetch: 2 })
      const [stuck, queued] = yield* Effect.all([
        Effect.flip(WorkerPool.ask(pool, loop, { timeout: "10 seconds", deadline: "200 millis" })),
        WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "10 seconds" })
      ], { concurrency: "unbounded" })
      assert.instanceOf(stuck, WorkerError.TaskTimeout)
      assert.strictEqual(queued, 2, "the prefetched task went back to the queue and ran on the replacement")
    })))

  it.live("interrupting a queued ask removes it: it never runs", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, prefetch: 1 })
      const running = yield* Effect.forkChild(WorkerPool.ask(pool, new Spin({ ms: 300 }), { timeout: "10 seconds" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.busy === 1, "first task not running yet")))
      const queued = yield* Effect.forkChild(WorkerPool.ask(pool, new Spin({ ms: 1 }), { timeout: "10 seconds" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.queued === 1, "second task not queued yet")))
      yield* Fiber.interrupt(queued)
      assert.strictEqual((yield* WorkerPool.stats(pool)).queued, 0)
      yield* Fiber.join(running)
      yield* Effect.sleep("50 millis")
      assert.strictEqual((yield* WorkerPool.stats(pool)).completed, 1, "the interrupted task was never sent")
    })))

  it.live("interrupting a running ask: its thread is terminated after the grace period", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, interruptGrace: "150 millis" })
      const before = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      const fiber = yield* Effect.forkChild(WorkerPool.ask(pool, loop, { timeout: "10 seconds" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.busy === 1, "not running yet")))
      const started = performance.now()
      yield* Fiber.interrupt(fiber)
      assert.isBelow(performance.now() - started, 100, "the interrupting fiber does not wait for the grace period")
      const after = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      assert.notStrictEqual(after, before, "the stuck thread was replaced")
      assert.isAtLeast(performance.now() - started, 140, "not before the grace period")
    })))

  it.live("a running task that finishes within the grace period keeps its thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, interruptGrace: "1 second" })
      const before = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      const fiber = yield* Effect.forkChild(WorkerPool.ask(pool, new Spin({ ms: 100 }), { timeout: "10 seconds" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.busy === 1, "not running yet")))
      yield* Fiber.interrupt(fiber)
      const after = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      assert.strictEqual(after, before, "same thread")
      assert.strictEqual((yield* WorkerPool.stats(pool)).completed, 3)
    })))

  it.live("an ask timeout gives AskTimeout, and a stuck thread is then replaced", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, interruptGrace: "100 millis" })
      const error = yield* Effect.flip(WorkerPool.ask(pool, loop, { timeout: "100 millis" }))
      assert.instanceOf(error, ActorError.AskTimeout)
      assert.strictEqual((error as ActorError.AskTimeout).timeoutMillis, 100)
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 2 }), { timeout: "5 seconds" }), 3)
      // an ask waiting in the queue times out too, and leaves it
      const busy = yield* Effect.forkChild(WorkerPool.ask(pool, new Spin({ ms: 300 }), { timeout: "5 seconds" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.busy === 1, "not running yet")))
      const late = yield* Effect.flip(WorkerPool.ask(pool, new Spin({ ms: 300 }), { timeout: "50 millis", deadline: "1 second" }))
      assert.instanceOf(late, ActorError.AskTimeout)
      yield* Fiber.join(busy)
    })))
})
