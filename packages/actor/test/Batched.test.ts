import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { Actor, Behavior, Supervisor } from "../src/index.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

/** A batched recorder whose first batch waits for `gate`. */
const recorder = (batches: Array<ReadonlyArray<number>>, gate: Deferred.Deferred<void>, maxBatch: number) =>
  Behavior.batched({
    init: Effect.void,
    maxBatch,
    receive: (_: void, batch: ReadonlyArray<number>) =>
      Effect.suspend(() => {
        batches.push(batch)
        return batches.length === 1 ? Deferred.await(gate) : Effect.void
      })
  })

describe("Behavior.batched", () => {
  it.effect("messages queued while a batch is processed make the next batches, oldest first, at most maxBatch each", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const gate = yield* Deferred.make<void>()
      const ref = yield* Actor.spawn(recorder(batches, gate, 4), { capacity: 100 })
      yield* Actor.tell(ref, 1)
      yield* settle
      assert.deepStrictEqual(batches, [[1]])
      assert.strictEqual(yield* Actor.inProgress(ref), 1)
      for (let n = 2; n <= 11; n++) yield* Actor.tell(ref, n)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.deepStrictEqual(batches, [[1], [2, 3, 4, 5], [6, 7, 8, 9], [10, 11]])
      assert.strictEqual(yield* Actor.inProgress(ref), 0)
    }))

  it.effect("the state threads through batches", () =>
    Effect.gen(function*() {
      const totals: Array<number> = []
      const ref = yield* Actor.spawn(Behavior.batched({
        init: Effect.succeed(0),
        maxBatch: 3,
        receive: (total: number, batch: ReadonlyArray<number>) =>
          Effect.sync(() => {
            const next = batch.reduce((sum, n) => sum + n, total)
            totals.push(next)
            return next
          })
      }))
      for (let n = 1; n <= 7; n++) yield* Actor.tell(ref, n)
      yield* Actor.stop(ref)
      assert.strictEqual(totals.at(-1), 28)
    }))

  it.effect("redeliverOnRestart hands the whole failed batch again, first", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ backoff: Schedule.spaced("0 millis") })
      const batches: Array<ReadonlyArray<number>> = []
      const gate = yield* Deferred.make<void>()
      let failures = 0
      const ref = yield* Supervisor.spawn(supervisor, Behavior.batched({
        init: Effect.void,
        maxBatch: 3,
        redeliverOnRestart: true,
        receive: (_: void, batch: ReadonlyArray<number>) =>
          Effect.gen(function*() {
            batches.push(batch)
            if (batches.length === 1) yield* Deferred.await(gate)
            if (batch.includes(3) && failures++ === 0) return yield* Effect.fail("store unavailable")
          })
      }), { capacity: 100 })
      yield* Actor.tell(ref, 1)
      yield* settle
      for (let n = 2; n <= 6; n++) yield* Actor.tell(ref, n)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.strictEqual(failures, 2)
      assert.deepStrictEqual(batches, [[1], [2, 3, 4], [2, 3, 4], [5, 6]])
    }))

  it.effect("without redeliverOnRestart the failed batch is dropped and the rest is processed", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ backoff: Schedule.spaced("0 millis") })
      const batches: Array<ReadonlyArray<number>> = []
      const gate = yield* Deferred.make<void>()
      const ref = yield* Supervisor.spawn(supervisor, Behavior.batched({
        init: Effect.void,
        maxBatch: 3,
        receive: (_: void, batch: ReadonlyArray<number>) =>
          Effect.gen(function*() {
            batches.push(batch)
            if (batches.length === 1) yield* Deferred.await(gate)
            if (batches.length === 2) return yield* Effect.fail("store unavailable")
          })
      }), { capacity: 100 })
      yield* Actor.tell(ref, 1)
      yield* settle
      for (let n = 2; n <= 6; n++) yield* Actor.tell(ref, n)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.deepStrictEqual(batches, [[1], [2, 3, 4], [5, 6]])
    }))

  it.effect("a graceful stop processes every queued message, in batches, before stopping", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const gate = yield* Deferred.make<void>()
      const ref = yield* Actor.spawn(recorder(batches, gate, 4), { capacity: 100 })
      for (let n = 1; n <= 10; n++) yield* Actor.tell(ref, n)
      yield* settle
      const stopping = yield* Effect.forkChild(Actor.stop(ref))
      yield* settle
      assert.isUndefined(stopping.pollUnsafe(), "stop waits for the queue")
      assert.strictEqual((yield* Effect.flip(Actor.tell(ref, 99)))._tag, "ActorStopped")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(stopping)
      assert.deepStrictEqual(batches.flat(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      assert.isTrue(batches.every((batch) => batch.length <= 4))
      assert.isTrue(Exit.isSuccess((yield* Actor.awaitTermination(ref)).exit))
    }))

  it.effect("backpressured senders resume as batches free room, nothing lost or reordered", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const gate = yield* Deferred.make<void>()
      const ref = yield* Actor.spawn(recorder(batches, gate, 2), { capacity: 4 })
      const sender = yield* Effect.forkChild(Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (n) => Actor.tell(ref, n), { discard: true }))
      yield* settle
      assert.isUndefined(sender.pollUnsafe(), "the sender waits for room")
      assert.strictEqual(yield* Actor.mailboxSize(ref), 4)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(sender)
      yield* Actor.stop(ref)
      assert.deepStrictEqual(batches.flat(), Array.from({ length: 20 }, (_, i) => i))
      assert.isTrue(batches.every((batch) => batch.length >= 1 && batch.length <= 2))
      assert.isAbove(batches.filter((batch) => batch.length === 2).length, 0)
    }))

  it.effect("a maxBatch that is not a positive integer fails the spawn with InvalidOptions", () =>
    Effect.gen(function*() {
      for (const maxBatch of [0, -1, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(Actor.spawn(Behavior.batched({ init: Effect.void, maxBatch, receive: (_: void, __: ReadonlyArray<number>) => Effect.void })))
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.strictEqual((error as { readonly option: string }).option, "maxBatch")
      }
    }))
})
