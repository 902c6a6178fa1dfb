import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Actor, Behavior, TestProbe } from "../src/index.ts"

describe("TestProbe", () => {
  it.effect("expectMessage within a TestClock window, after a delayed send", () =>
    Effect.gen(function*() {
      const probe = yield* TestProbe.make<string>()
      const delayed = yield* Actor.spawn(Behavior.stateless((msg: string) =>
        Effect.andThen(Effect.sleep("300 millis"), Actor.tell(probe.ref, msg))
      ))
      yield* Actor.tell(delayed, "pong")
      assert.strictEqual(yield* TestProbe.expectMessage(probe, "1 second"), "pong")
    }))

  it.effect("expectMessage fails with ProbeTimeout when the message comes too late", () =>
    Effect.gen(function*() {
      const probe = yield* TestProbe.make<string>()
      const delayed = yield* Actor.spawn(Behavior.stateless((msg: string) =>
        Effect.andThen(Effect.sleep("2 seconds"), Actor.tell(probe.ref, msg))
      ))
      yield* Actor.tell(delayed, "late")
      const error = yield* Effect.flip(TestProbe.expectMessage(probe, "1 second"))
      assert.strictEqual(error._tag, "ProbeTimeout")
    }))

  it.effect("expectNoMessage passes on silence and fails on a message", () =>
    Effect.gen(function*() {
      const probe = yield* TestProbe.make<number>()
      yield* TestProbe.expectNoMessage(probe, "500 millis")
      yield* Actor.tell(probe.ref, 7)
      const error = yield* Effect.flip(TestProbe.expectNoMessage(probe, "500 millis"))
      assert.strictEqual(error._tag, "UnexpectedMessage")
    }))

  it.effect("expectMessageMatching checks the message", () =>
    Effect.gen(function*() {
      const probe = yield* TestProbe.make<number>()
      yield* Actor.tell(probe.ref, 3)
      const error = yield* Effect.flip(TestProbe.expectMessageMatching(probe, "an even number", (n) => n % 2 === 0, "1 second"))
      assert.strictEqual(error._tag, "UnexpectedMessage")
      yield* Actor.tell(probe.ref, 4)
      assert.strictEqual(yield* TestProbe.expectMessageMatching(probe, "an even number", (n) => n % 2 === 0, "1 second"), 4)
    }))

  it.effect("expectTerminated sees a stop, and times out on a live actor", () =>
    Effect.gen(function*() {
      const probe = yield* TestProbe.make<never>()
      const target = yield* Actor.spawn(Behavior.stateless((_: "die") => Effect.die("broken")))
      const alive = yield* Actor.spawn(Behavior.stateless((_: string) => Effect.void))
      yield* Actor.tell(target, "die")
      const terminated = yield* TestProbe.expectTerminated(probe, target, "1 second")
      assert.isTrue(Exit.hasDies(terminated.exit))
      const error = yield* Effect.flip(TestProbe.expectTerminated(probe, alive, "1 second"))
      assert.strictEqual(error._tag, "ProbeTimeout")
    }))
})
