import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Actor, Behavior, Reply } from "../src/index.ts"

type CounterMsg =
  | { readonly _tag: "Add"; readonly n: number }
  | { readonly _tag: "Get"; readonly reply: Reply.Reply<number> }

const counter = Behavior.stateful(0, (total: number, msg: CounterMsg) =>
  msg._tag === "Add" ? Effect.succeed(total + msg.n) : Effect.as(Reply.succeed(msg.reply, total), total))

const get = (ref: Actor.ActorRef<CounterMsg>) =>
  Actor.ask(ref, (reply: Reply.Reply<number>) => ({ _tag: "Get" as const, reply }), { timeout: "1 second" })

describe("Actor", () => {
  it.effect("processes messages one at a time, in order", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      let inFlight = 0
      let maxInFlight = 0
      const ref = yield* Actor.spawn(Behavior.stateless((n: number) =>
        Effect.gen(function*() {
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          yield* Effect.yieldNow
          seen.push(n)
          inFlight--
        })
      ), { capacity: 16 })
      const senders = Array.from({ length: 1000 }, (_, i) => i)
      yield* Effect.forEach(senders, (n) => Actor.tell(ref, n), { discard: true })
      yield* Actor.stop(ref)
      assert.deepStrictEqual(seen, senders)
      assert.strictEqual(maxInFlight, 1)
    }))

  it.effect("a reducer folds messages into its state in order; a throwing step is a defect that stops it", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const ref = yield* Actor.spawn(Behavior.reducer([] as ReadonlyArray<number>, (list, n: number) => {
        if (n < 0) throw new Error("negative")
        seen.push(n)
        return [...list, n]
      }))
      for (let i = 0; i < 3000; i++) yield* Actor.tell(ref, i)
      yield* Actor.tell(ref, -1)
      const terminated = yield* Actor.awaitTermination(ref)
      assert.strictEqual(seen.length, 3000)
      assert.isTrue(seen.every((n, i) => n === i))
      assert.isTrue(Exit.hasDies(terminated.exit))
    }))

  it.effect("ask returns the typed reply and sees earlier tells", () =>
    Effect.gen(function*() {
      const ref = yield* Actor.spawn(counter)
      yield* Actor.tell(ref, { _tag: "Add", n: 40 })
      yield* Actor.tell(ref, { _tag: "Add", n: 2 })
      assert.strictEqual(yield* get(ref), 42)
    }))

  it.effect("ask times out with AskTimeout and the late reply is dropped", () =>
    Effect.gen(function*() {
      const late: Array<boolean> = []
      const slow = yield* Actor.spawn(Behavior.stateless((msg: { readonly reply: Reply.Reply<string> }) =>
        Effect.gen(function*() {
          yield* Effect.sleep("2 seconds")
          late.push(yield* Reply.succeed(msg.reply, "too late"))
        })
      ))
      const fiber = yield* Effect.forkChild(Actor.ask(slow, (reply: Reply.Reply<string>) => ({ reply }), { timeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "AskTimeout")
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow
      assert.deepStrictEqual(late, [false])
    }))

  it.live("with the live clock too: AskTimeout on time, late reply dropped, answered asks leave no timer behind", () =>
    Effect.gen(function*() {
      const late: Array<boolean> = []
      const slow = yield* Actor.spawn(Behavior.stateless((msg: { readonly reply: Reply.Reply<string>; readonly delay: number }) =>
        Effect.gen(function*() {
          yield* Effect.sleep(msg.delay)
          late.push(yield* Reply.succeed(msg.reply, "answer"))
        })
      ))
      const started = Date.now()
      const error = yield* Effect.flip(Actor.ask(slow, (reply: Reply.Reply<string>) => ({ reply, delay: 200 }), { timeout: "50 millis" }))
      const waited = Date.now() - started
      assert.strictEqual(error._tag, "AskTimeout")
      assert.isAtLeast(waited, 45)
      assert.isBelow(waited, 190)
      yield* Effect.sleep("250 millis")
      assert.deepStrictEqual(late, [false])
      const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length
      for (let i = 0; i < 100; i++) {
        assert.strictEqual(yield* Actor.ask(slow, (reply: Reply.Reply<string>) => ({ reply, delay: 0 }), { timeout: "1 hour" }), "answer")
      }
      const timersAfter = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length
      assert.isAtMost(timersAfter, timersBefore + 1)
    }))

  it.effect("ask of a stopped actor fails with ActorStopped", () =>
    Effect.gen(function*() {
      const ref = yield* Actor.spawn(counter)
      yield* Actor.stop(ref)
      const error = yield* Effect.flip(get(ref))
      assert.strictEqual(error._tag, "ActorStopped")
      const tellError = yield* Effect.flip(Actor.tell(ref, { _tag: "Add", n: 1 }))
      assert.strictEqual(tellError._tag, "ActorStopped")
    }))

  it.effect("an actor that stops before replying fails pending asks with ActorStopped", () =>
    Effect.gen(function*() {
      const ref = yield* Actor.spawn(Behavior.stateless((_: { readonly reply: Reply.Reply<string> }) => Effect.never))
      const fiber = yield* Effect.forkChild(Actor.ask(ref, (reply: Reply.Reply<string>) => ({ reply }), { timeout: "1 hour" }))
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      yield* Actor.interrupt(ref)
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "ActorStopped")
    }))

  it.effect("a failing init fails the spawn and releases what it acquired", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const error = yield* Effect.flip(Actor.spawn(Behavior.make({
        init: Effect.andThen(Effect.addFinalizer(() => Effect.sync(() => released.push("connection"))), Effect.fail("no config" as const)),
        receive: (state: void, _: string) => Effect.succeed(state)
      })))
      assert.strictEqual(error, "no config")
      assert.deepStrictEqual(released, ["connection"])
    }))

  it.effect("invalid options are rejected at spawn and ask", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(Actor.spawn(counter, { capacity: 0 }))
      assert.strictEqual(zero._tag, "InvalidOptions")
      assert.match(zero.message, /capacity/)
      const fractional = yield* Effect.flip(Actor.spawn(counter, { capacity: 1.5 }))
      assert.strictEqual(fractional._tag, "InvalidOptions")
      const policy = yield* Effect.flip(Actor.spawn(counter, { overflow: "bogus" as never }))
      assert.strictEqual(policy._tag, "InvalidOptions")
      const ref = yield* Actor.spawn(counter)
      const negative = yield* Effect.flip(Actor.ask(ref, (reply: Reply.Reply<number>) => ({ _tag: "Get" as const, reply }), { timeout: -5 }))
      assert.strictEqual(negative._tag, "InvalidOptions")
    }))

  it.effect("graceful stop processes what is queued and runs finalizers", () =>
    Effect.gen(function*() {
      const processed = yield* Ref.make(0)
      const finalized = yield* Ref.make(false)
      const ref = yield* Actor.spawn(Behavior.make({
        init: Effect.as(Effect.addFinalizer(() => Ref.set(finalized, true)), undefined),
        receive: (_: void, _msg: number) => Effect.andThen(Effect.sleep("10 millis"), Ref.update(processed, (n) => n + 1))
      }))
      yield* Effect.forEach([1, 2, 3, 4, 5], (n) => Actor.tell(ref, n), { discard: true })
      const stopping = yield* Effect.forkChild(Actor.stop(ref))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stopping)
      assert.strictEqual(yield* Ref.get(processed), 5)
      assert.isTrue(yield* Ref.get(finalized))
      const terminated = yield* Actor.awaitTermination(ref)
      assert.isTrue(Exit.isSuccess(terminated.exit))
    }))

  it.effect("immediate stop interrupts, discards the queue and runs finalizers", () =>
    Effect.gen(function*() {
      const processed = yield* Ref.make(0)
      const finalized = yield* Ref.make(false)
      const ref = yield* Actor.spawn(Behavior.make({
        init: Effect.as(Effect.addFinalizer(() => Ref.set(finalized, true)), undefined),
        receive: (_: void, _msg: number) => Effect.andThen(Effect.sleep("10 millis"), Ref.update(processed, (n) => n + 1))
      }))
      yield* Effect.forEach([1, 2, 3, 4, 5], (n) => Actor.tell(ref, n), { discard: true })
      yield* TestClock.adjust("15 millis")
      yield* Actor.interrupt(ref)
      assert.strictEqual(yield* Ref.get(processed), 1)
      assert.isTrue(yield* Ref.get(finalized))
      const terminated = yield* Actor.awaitTermination(ref)
      assert.isTrue(Exit.hasInterrupts(terminated.exit))
      assert.isFalse(yield* Actor.isAlive(ref))
    }))

  it.effect("closing the owner scope stops the actor and the children it spawned", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const childRef = yield* Ref.make<Actor.ActorRef<string> | undefined>(undefined)
      const parent = yield* Actor.spawn(Behavior.stateless((_: "spawn", context) =>
        Effect.flatMap(context.spawn(Behavior.stateless((_: string) => Effect.void)), (child) => Ref.set(childRef, child))
      )).pipe(Scope.provide(scope))
      yield* Actor.tell(parent, "spawn")
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      const child = (yield* Ref.get(childRef))!
      assert.isTrue(yield* Actor.isAlive(child))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* Actor.isAlive(parent))
      assert.isFalse(yield* Actor.isAlive(child))
    }))

  it.effect("watch delivers Terminated with the failure cause", () =>
    Effect.gen(function*() {
      const failing = yield* Actor.spawn(Behavior.stateless((_: "boom") => Effect.fail("kaboom" as const)))
      const received: Array<Actor.Terminated> = []
      const watcher = yield* Actor.spawn(Behavior.stateless((msg: Actor.Terminated | "watch", context) =>
        msg === "watch" ? context.watch(failing, (t) => t) : Effect.sync(() => received.push(msg))
      ))
      yield* Actor.tell(watcher, "watch")
      yield* Effect.yieldNow
      yield* Actor.tell(failing, "boom")
      const terminated = yield* Actor.awaitTermination(failing)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.strictEqual(received.length, 1)
      assert.strictEqual(received[0]!.actor, terminated.actor)
      assert.deepStrictEqual(Exit.findErrorOption(received[0]!.exit)._tag, "Some")
    }))
})
