import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import { Actor, ActorError, Behavior, Reply, Supervisor } from "../src/index.ts"

/** A child that counts its incarnations and fails on "crash". */
type Msg = "crash" | "stop" | { readonly reply: Reply.Reply<{ readonly incarnation: number; readonly seen: number }> }

const child = (name: string, starts: Map<string, number>, seenLog?: Array<string>) =>
  Behavior.make({
    init: Effect.sync(() => {
      const incarnation = (starts.get(name) ?? 0) + 1
      starts.set(name, incarnation)
      return { incarnation, seen: 0 }
    }),
    receive: (state, msg: Msg, context) => {
      if (msg === "crash") return Effect.fail(`${name} crashed` as const)
      if (msg === "stop") return Effect.as(context.stop, state)
      seenLog?.push(name)
      return Effect.as(Reply.succeed(msg.reply, { ...state, seen: state.seen + 1 }), { ...state, seen: state.seen + 1 })
    }
  })

const status = (ref: Actor.ActorRef<Msg>) => Actor.ask(ref, (reply: Reply.Reply<{ readonly incarnation: number; readonly seen: number }>) => ({ reply }), { timeout: "10 seconds" })

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

const noDelay = Schedule.spaced("0 millis")

const tagOf = (error: unknown): string => String((error as { readonly _tag?: string })._tag)

describe("Supervisor", () => {
  it.effect("oneForOne restarts only the failed child; its mailbox and ref survive", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ strategy: "oneForOne", backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      const b = yield* Supervisor.spawn(supervisor, child("b", starts))
      yield* Actor.tell(a, "crash")
      const after = yield* status(a)
      assert.strictEqual(after.incarnation, 2)
      assert.strictEqual(after.seen, 1, "state was re-initialised")
      assert.strictEqual((yield* status(b)).incarnation, 1)
    }))

  it.effect("messages queued behind the failing one are processed after the restart; the failing one is not retried", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const log: Array<string> = []
      const supervisor = yield* Supervisor.make({ backoff: noDelay })
      let crashes = 0
      const ref = yield* Supervisor.spawn(supervisor, Behavior.stateless((msg: string) => {
        if (msg === "crash") {
          crashes++
          return Effect.fail("boom")
        }
        return Effect.sync(() => log.push(msg))
      }))
      void starts
      yield* Actor.tell(ref, "one")
      yield* Actor.tell(ref, "crash")
      yield* Actor.tell(ref, "two")
      yield* Actor.tell(ref, "three")
      yield* settle
      assert.deepStrictEqual(log, ["one", "two", "three"])
      assert.strictEqual(crashes, 1)
    }))

  it.effect("redeliverOnRestart retries the failing message once more", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ backoff: noDelay })
      let attempts = 0
      const done: Array<string> = []
      const ref = yield* Supervisor.spawn(supervisor, Behavior.make({
        init: Effect.void,
        redeliverOnRestart: true,
        receive: (_: void, msg: string) =>
          Effect.suspend(() => ++attempts === 1 ? Effect.fail("flaky") : Effect.sync(() => done.push(msg)))
      }))
      yield* Actor.tell(ref, "job")
      yield* settle
      assert.strictEqual(attempts, 2)
      assert.deepStrictEqual(done, ["job"])
    }))

  it.effect("oneForAll restarts every child", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ strategy: "oneForAll", backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      const b = yield* Supervisor.spawn(supervisor, child("b", starts))
      const c = yield* Supervisor.spawn(supervisor, child("c", starts))
      yield* Actor.tell(b, "crash")
      yield* status(b)
      assert.deepStrictEqual([...starts.entries()].sort(), [["a", 2], ["b", 2], ["c", 2]])
      assert.strictEqual((yield* status(a)).incarnation, 2)
      assert.strictEqual((yield* status(c)).incarnation, 2)
    }))

  it.effect("restForOne restarts the failed child and those started after it", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ strategy: "restForOne", backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      const b = yield* Supervisor.spawn(supervisor, child("b", starts))
      yield* Supervisor.spawn(supervisor, child("c", starts))
      yield* Actor.tell(b, "crash")
      yield* status(b)
      assert.deepStrictEqual([...starts.entries()].sort(), [["a", 1], ["b", 2], ["c", 2]])
      assert.strictEqual((yield* status(a)).incarnation, 1)
    }))

  it.effect("restart types: permanent restarts after a self-stop, transient does not, temporary never restarts", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ backoff: noDelay, maxRestarts: 10 })
      const permanent = yield* Supervisor.spawn(supervisor, child("permanent", starts), { restart: "permanent" })
      const transient = yield* Supervisor.spawn(supervisor, child("transient", starts), { restart: "transient" })
      const transientFailing = yield* Supervisor.spawn(supervisor, child("transientFailing", starts), { restart: "transient" })
      const temporary = yield* Supervisor.spawn(supervisor, child("temporary", starts), { restart: "temporary" })
      yield* Actor.tell(permanent, "stop")
      yield* Actor.tell(transient, "stop")
      yield* Actor.tell(transientFailing, "crash")
      yield* Actor.tell(temporary, "crash")
      yield* settle
      assert.strictEqual((yield* status(permanent)).incarnation, 2)
      assert.isFalse(yield* Actor.isAlive(transient))
      assert.strictEqual((yield* status(transientFailing)).incarnation, 2)
      const terminated = yield* Actor.awaitTermination(temporary)
      assert.isTrue(Exit.isFailure(terminated.exit))
      assert.strictEqual(starts.get("temporary"), 1)
      assert.strictEqual((yield* Supervisor.children(supervisor)).length, 2)
    }))

  it.effect("intensity exceeded: the supervisor fails with RestartIntensityExceeded and stops its children", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ name: "fragile", maxRestarts: 2, within: "1 minute", backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      const sibling = yield* Supervisor.spawn(supervisor, child("sibling", starts))
      for (let i = 0; i < 3; i++) {
        yield* Actor.tell(a, "crash")
        yield* settle
      }
      const terminated = yield* Supervisor.awaitTermination(supervisor)
      const error = Exit.findErrorOption(terminated.exit)
      assert.strictEqual(error._tag, "Some")
      assert.strictEqual((error as any).value._tag, "RestartIntensityExceeded")
      assert.strictEqual(starts.get("a"), 3, "two restarts were allowed")
      assert.isFalse(yield* Actor.isAlive(a))
      assert.isFalse(yield* Actor.isAlive(sibling))
      const stopped = yield* Effect.flip(Supervisor.spawn(supervisor, child("late", starts)))
      assert.strictEqual(tagOf(stopped), "ActorStopped")
    }))

  it.effect("a supervisor that gives up has closed its children (their finalizers ran, under the test's clock) before it reports Terminated", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const supervisor = yield* Supervisor.make({ name: "closing", maxRestarts: 0, backoff: noDelay })
      const slowRelease = (name: string) =>
        Behavior.make({
          init: Effect.addFinalizer(() =>
            Effect.andThen(Effect.sleep("1 second"), Effect.sync(() => released.push(name)))
          ),
          receive: (_: void, msg: "crash" | "ok") => msg === "crash" ? Effect.fail("boom") : Effect.void
        })
      const a = yield* Supervisor.spawn(supervisor, slowRelease("a"))
      const b = yield* Supervisor.spawn(supervisor, slowRelease("b"))
      const waiting = yield* Effect.forkChild(Supervisor.awaitTermination(supervisor))
      yield* Actor.tell(a, "crash")
      yield* settle
      // the children's finalizers sleep on the TestClock: nothing is released until it moves
      assert.deepStrictEqual(released, [])
      assert.isUndefined(waiting.pollUnsafe(), "the supervisor has not terminated while its children are still closing")
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* TestClock.adjust("1 second")
      const terminated = yield* Fiber.join(waiting)
      assert.isTrue(Exit.isFailure(terminated.exit))
      assert.deepStrictEqual([...released].sort(), ["a", "b"])
      assert.isFalse(yield* Actor.isAlive(a))
      assert.isFalse(yield* Actor.isAlive(b))
    }))

  it.effect("interrupting a supervisor's ref closes its children", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      yield* Actor.interrupt(supervisor.ref)
      const terminated = yield* Actor.awaitTermination(a)
      assert.isTrue(Exit.isFailure(terminated.exit))
      assert.isFalse(yield* Actor.isAlive(supervisor.ref))
    }))

  it.effect("every restart is logged at Warning with the child's cause, the restart count and the delay, annotated", () => {
    const logs: Array<{ level: string; message: string; cause: Cause.Cause<unknown>; annotations: Record<string, unknown> }> = []
    const logger = Logger.make(({ cause, fiber, logLevel, message }) => {
      logs.push({
        level: logLevel,
        message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        cause,
        annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
      })
    })
    return Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({
        name: "pipeline",
        maxRestarts: 5,
        within: "1 minute",
        backoff: Schedule.spaced("20 millis")
      })
      const fetch = yield* Supervisor.spawn(supervisor, Behavior.stateless((_: "crash") => Effect.die(new Error("boom"))), { name: "fetch" })
      yield* Actor.tell(fetch, "crash")
      yield* settle
      yield* TestClock.adjust("20 millis")
      yield* settle
      yield* Actor.tell(fetch, "crash")
      yield* settle
      const warnings = logs.filter((log) => log.level === "Warn")
      assert.strictEqual(warnings.length, 2)
      const [first, second] = warnings
      assert.include(first!.message, `supervisor "pipeline" restarts actor "fetch"`)
      assert.include(first!.message, "died: Error: boom")
      assert.include(first!.message, "restart 1 of 5 within 60000 ms, in 20 ms")
      assert.include(second!.message, "restart 2 of 5")
      assert.strictEqual((Cause.squash(first!.cause) as Error).message, "boom")
      assert.strictEqual((Cause.squash(second!.cause) as Error).message, "boom")
      assert.deepInclude(first!.annotations, { supervisor: "pipeline", actor: "fetch", restarts: 1, delayMillis: 20 })
    }).pipe(Effect.provide(Logger.layer([logger])))
  })

  it.effect("RestartIntensityExceeded names the child that exceeded it and carries its last cause", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ name: "pipeline", maxRestarts: 1, within: "5 seconds", backoff: noDelay })
      const calm = yield* Supervisor.spawn(supervisor, Behavior.stateless((_: "crash") => Effect.fail("calm failed")), { name: "calm" })
      const fetch = yield* Supervisor.spawn(supervisor, Behavior.stateless((_: "crash") => Effect.die(new Error("boom"))), { name: "fetch" })
      yield* Actor.tell(calm, "crash")
      yield* settle
      yield* Actor.tell(fetch, "crash")
      const terminated = yield* Supervisor.awaitTermination(supervisor)
      const error = Exit.findErrorOption(terminated.exit)
      assert.strictEqual(error._tag, "Some")
      const exceeded = (error as { readonly value: ActorError.RestartIntensityExceeded }).value
      assert.instanceOf(exceeded, ActorError.RestartIntensityExceeded)
      assert.strictEqual(exceeded.child, "fetch")
      assert.strictEqual(exceeded.restarts, 2)
      assert.strictEqual((Cause.squash(exceeded.cause) as Error).message, "boom")
      assert.strictEqual(
        exceeded.message,
        `supervisor "pipeline" gave up: 2 restarts within 5000 ms; last: actor "fetch" died: Error: boom`
      )
    }).pipe(Effect.provide(Logger.layer([]))))

  it.effect("restarts spread over more than the window do not exceed the intensity", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ maxRestarts: 1, within: "1 second", backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      for (let i = 0; i < 4; i++) {
        yield* Actor.tell(a, "crash")
        yield* settle
        yield* TestClock.adjust("2 seconds")
      }
      assert.strictEqual((yield* status(a)).incarnation, 5)
    }))

  it.effect("escalation: a child supervisor that gives up is restarted by its parent, with its children", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const root = yield* Supervisor.make({ name: "root", maxRestarts: 5, backoff: noDelay })
      const inner = yield* Supervisor.supervisor(root, { name: "inner", maxRestarts: 0, backoff: noDelay })
      const a = yield* Supervisor.spawn(inner, child("a", starts))
      const b = yield* Supervisor.spawn(inner, child("b", starts))
      yield* Actor.tell(a, "crash")
      yield* settle
      assert.strictEqual((yield* status(a)).incarnation, 2)
      assert.strictEqual((yield* status(b)).incarnation, 2, "the whole inner tree was restarted by root")
      assert.isTrue(yield* Actor.isAlive(inner.ref))
    }))

  it.effect("escalation to the top: a parent that also gives up fails with the cause", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const root = yield* Supervisor.make({ name: "root", maxRestarts: 0, backoff: noDelay })
      const inner = yield* Supervisor.supervisor(root, { name: "inner", maxRestarts: 0, backoff: noDelay })
      const a = yield* Supervisor.spawn(inner, child("a", starts))
      yield* Actor.tell(a, "crash")
      const terminated = yield* Supervisor.awaitTermination(root)
      const error = Exit.findErrorOption(terminated.exit)
      assert.strictEqual((error as any).value.supervisor, "root")
      assert.isFalse(yield* Actor.isAlive(a))
      assert.isFalse(yield* Actor.isAlive(inner.ref))
    }))

  it.effect("backoff: restart delays follow the Schedule under TestClock", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ maxRestarts: 10, within: "1 hour", backoff: Schedule.exponential("100 millis") })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      yield* Actor.tell(a, "crash")
      yield* settle
      yield* TestClock.adjust("99 millis")
      yield* settle
      assert.strictEqual(starts.get("a"), 1, "not restarted before 100 ms")
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.strictEqual(starts.get("a"), 2, "restarted at 100 ms")
      yield* Actor.tell(a, "crash")
      yield* settle
      yield* TestClock.adjust("199 millis")
      yield* settle
      assert.strictEqual(starts.get("a"), 2, "second delay is 200 ms")
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.strictEqual(starts.get("a"), 3)
      const fiber = yield* Effect.forkChild(status(a))
      yield* settle
      assert.strictEqual((yield* Fiber.join(fiber)).incarnation, 3)
    }))

  it.effect("an explicit stop is never restarted", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const supervisor = yield* Supervisor.make({ backoff: noDelay })
      const a = yield* Supervisor.spawn(supervisor, child("a", starts))
      yield* Actor.stop(a)
      yield* settle
      assert.isFalse(yield* Actor.isAlive(a))
      assert.strictEqual(starts.get("a"), 1)
    }))

  it.effect("invalid supervisor options are rejected", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* Effect.flip(Supervisor.make({ maxRestarts: -1 })))._tag, "InvalidOptions")
      assert.strictEqual((yield* Effect.flip(Supervisor.make({ within: -1 })))._tag, "InvalidOptions")
      assert.strictEqual((yield* Effect.flip(Supervisor.make({ strategy: "oneForSome" as never })))._tag, "InvalidOptions")
      const supervisor = yield* Supervisor.make()
      const badRestart = yield* Effect.flip(Supervisor.spawn(supervisor, child("x", new Map()), { restart: "sometimes" as never }))
      assert.strictEqual(tagOf(badRestart), "InvalidOptions")
      const badCapacity = yield* Effect.flip(Supervisor.spawn(supervisor, child("x", new Map()), { capacity: -3 }))
      assert.strictEqual(tagOf(badCapacity), "InvalidOptions")
    }))
})
