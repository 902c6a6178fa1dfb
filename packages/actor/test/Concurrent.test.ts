import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { Actor, Behavior, Supervisor } from "../src/index.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

const count = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)

describe("Behavior.concurrent", () => {
  it.effect("handles up to N messages at once, never more, and every message once", () =>
    Effect.gen(function*() {
      let running = 0
      let peak = 0
      const handled: Array<number> = []
      const ref = yield* Actor.spawn(Behavior.concurrent({
        concurrency: 4,
        handle: (n: number) =>
          Effect.gen(function*() {
            running++
            peak = Math.max(peak, running)
            for (let i = 0; i < n % 7; i++) yield* Effect.yieldNow
            handled.push(n)
            running--
          })
      }), { capacity: 10 })
      const samples: Array<number> = []
      for (let n = 0; n < 200; n++) {
        yield* Actor.tell(ref, n)
        samples.push(yield* Actor.inProgress(ref))
      }
      yield* Actor.stop(ref)
      assert.strictEqual(peak, 4)
      assert.isTrue(samples.every((s) => s <= 4))
      assert.deepStrictEqual([...handled].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i))
    }))

  it.effect("with N handlers busy it takes no more messages: the mailbox fills and senders wait", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const handled: Array<number> = []
      const ref = yield* Actor.spawn(Behavior.concurrent({
        concurrency: 2,
        handle: (n: number) => Effect.andThen(Deferred.await(gate), Effect.sync(() => handled.push(n)))
      }), { capacity: 3 })
      const sender = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (n) => Actor.tell(ref, n), { discard: true }))
      yield* settle
      assert.strictEqual(yield* Actor.inProgress(ref), 2)
      assert.strictEqual(yield* Actor.mailboxSize(ref), 3)
      assert.isUndefined(sender.pollUnsafe(), "the sender waits for room")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(sender)
      yield* Actor.stop(ref)
      assert.deepStrictEqual([...handled].sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i))
    }))

  it.effect("a failing handler restarts the stage; the handlers still running are handled again exactly once, the failed message is not", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ backoff: Schedule.spaced("0 millis") })
      const gate = yield* Deferred.make<void>()
      const started = new Map<string, number>()
      const completed = new Map<string, number>()
      const order: Array<string> = []
      const ref = yield* Supervisor.spawn(supervisor, Behavior.concurrent({
        concurrency: 3,
        handle: (key: string) =>
          Effect.gen(function*() {
            count(started, key)
            order.push(key)
            if (key === "bad") return yield* Effect.fail("parse error")
            yield* Deferred.await(gate)
            count(completed, key)
          })
      }), { capacity: 10 })
      yield* Actor.tell(ref, "a")
      yield* Actor.tell(ref, "b")
      yield* settle
      yield* Actor.tell(ref, "bad")
      yield* Actor.tell(ref, "d")
      yield* settle
      // after the restart a and b (put back at the head) run again, then d
      assert.deepStrictEqual(order, ["a", "b", "bad", "a", "b", "d"])
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.deepStrictEqual(Object.fromEntries(started), { a: 2, b: 2, bad: 1, d: 1 })
      assert.deepStrictEqual(Object.fromEntries(completed), { a: 1, b: 1, d: 1 })
      assert.strictEqual(yield* Actor.inProgress(ref), 0)
    }))

  it.effect("redeliverOnRestart handles the failed message again too, in its original place", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ backoff: Schedule.spaced("0 millis") })
      const gate = yield* Deferred.make<void>()
      const order: Array<string> = []
      let failures = 0
      const ref = yield* Supervisor.spawn(supervisor, Behavior.concurrent({
        concurrency: 3,
        redeliverOnRestart: true,
        handle: (key: string) =>
          Effect.gen(function*() {
            order.push(key)
            if (key === "flaky" && failures++ === 0) return yield* Effect.die(new Error("flaky"))
            yield* Deferred.await(gate)
          })
      }), { capacity: 10 })
      yield* Actor.tell(ref, "a")
      yield* settle
      yield* Actor.tell(ref, "flaky")
      yield* Actor.tell(ref, "c")
      yield* Actor.tell(ref, "d")
      yield* settle
      // a was in progress and flaky failed as it started: both are put back, ahead of c and d
      assert.deepStrictEqual(order.slice(0, 2), ["a", "flaky"])
      assert.deepStrictEqual(order.slice(-3), ["a", "flaky", "c"])
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.strictEqual(order.filter((k) => k === "flaky").length, 2)
      assert.strictEqual(order.filter((k) => k === "d").length, 1)
      assert.strictEqual(order.at(-1), "d")
    }))

  it.effect("an unsupervised stage whose handler fails terminates with the cause", () =>
    Effect.gen(function*() {
      const ref = yield* Actor.spawn(Behavior.concurrent({
        concurrency: 8,
        handle: (n: number) => n === 3 ? Effect.fail(`bad ${n}` as const) : Effect.never
      }))
      for (let n = 0; n < 5; n++) yield* Actor.tell(ref, n)
      const terminated = yield* Actor.awaitTermination(ref)
      assert.isTrue(Exit.isFailure(terminated.exit))
      assert.deepStrictEqual(Exit.findErrorOption(terminated.exit), Option.some("bad 3"))
      assert.strictEqual(Actor.fiberCount(ref), 0)
    }))

  it.effect("a graceful stop handles everything queued and waits for every handler", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const handled: Array<number> = []
      const ref = yield* Actor.spawn(Behavior.concurrent({
        concurrency: 2,
        handle: (n: number) => Effect.andThen(Deferred.await(gate), Effect.sync(() => handled.push(n)))
      }), { capacity: 10 })
      for (let n = 0; n < 5; n++) yield* Actor.tell(ref, n)
      yield* settle
      const stopping = yield* Effect.forkChild(Actor.stop(ref))
      yield* settle
      assert.isUndefined(stopping.pollUnsafe(), "stop waits for the handlers")
      assert.strictEqual(yield* Actor.inProgress(ref), 2)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(stopping)
      assert.deepStrictEqual([...handled].sort(), [0, 1, 2, 3, 4])
      assert.isTrue(Exit.isSuccess((yield* Actor.awaitTermination(ref)).exit))
    }))

  it.effect("interrupt interrupts the handlers in progress and discards the queue", () =>
    Effect.gen(function*() {
      const interrupted: Array<number> = []
      const handled: Array<number> = []
      const ref = yield* Actor.spawn(Behavior.concurrent({
        concurrency: 3,
        handle: (n: number) =>
          Effect.andThen(Effect.never, Effect.sync(() => handled.push(n))).pipe(
            Effect.onInterrupt(() => Effect.sync(() => interrupted.push(n)))
          )
      }))
      for (let n = 0; n < 5; n++) yield* Actor.tell(ref, n)
      yield* settle
      assert.strictEqual(yield* Actor.inProgress(ref), 3)
      yield* Actor.interrupt(ref)
      const terminated = yield* Actor.awaitTermination(ref)
      assert.isTrue(Cause.hasInterruptsOnly((terminated.exit as Exit.Failure<void, unknown>).cause))
      assert.deepStrictEqual([...interrupted].sort(), [0, 1, 2])
      assert.deepStrictEqual(handled, [])
      assert.strictEqual(Actor.fiberCount(ref), 0)
    }))

  it.effect("closing the scope interrupts the handlers in progress", () =>
    Effect.gen(function*() {
      const interrupted: Array<number> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const ref = yield* Actor.spawn(Behavior.concurrent({
          concurrency: 2,
          handle: (n: number) => Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push(n)))
        }))
        yield* Actor.tell(ref, 1)
        yield* Actor.tell(ref, 2)
        yield* settle
      }))
      assert.deepStrictEqual([...interrupted].sort(), [1, 2])
    }))

  it.effect("an idle stage holds no fiber; a busy one holds one per handler in progress", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const ref = yield* Actor.spawn(Behavior.concurrent({ concurrency: 16, handle: (_: number) => Deferred.await(gate) }))
      assert.strictEqual(Actor.fiberCount(ref), 0)
      for (let n = 0; n < 5; n++) yield* Actor.tell(ref, n)
      yield* settle
      assert.strictEqual(Actor.fiberCount(ref), 5, "one worker per message, not one per slot")
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.strictEqual(Actor.fiberCount(ref), 0)
      assert.strictEqual(yield* Actor.inProgress(ref), 0)
      assert.isTrue(yield* Actor.isAlive(ref))
    }))

  it.effect("a concurrency that is not a positive integer fails the spawn with InvalidOptions", () =>
    Effect.gen(function*() {
      for (const concurrency of [0, -2, 2.5]) {
        const error = yield* Effect.flip(Actor.spawn(Behavior.concurrent({ concurrency, handle: (_: number) => Effect.void })))
        assert.strictEqual((error as { readonly option: string }).option, "concurrency")
      }
    }))
})
