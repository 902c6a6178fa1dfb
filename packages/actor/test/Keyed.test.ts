import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { Actor, Behavior, Keyed, Reply } from "../src/index.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

type Msg =
  | { readonly _tag: "Add"; readonly n: number }
  | { readonly _tag: "Get"; readonly reply: Reply.Reply<number> }
  | { readonly _tag: "Crash" }
  | { readonly _tag: "Slow" }

/** Per key: a running total; records starts and releases of entities. */
const entity = (starts: Map<string, number>, released: Array<string>) => (key: string) =>
  Behavior.make({
    init: Effect.andThen(
      Effect.sync(() => starts.set(key, (starts.get(key) ?? 0) + 1)),
      Effect.as(Effect.addFinalizer(() => Effect.sync(() => released.push(key))), 0)
    ),
    receive: (total: number, msg: Msg) => {
      switch (msg._tag) {
        case "Add":
          return Effect.succeed(total + msg.n)
        case "Get":
          return Effect.as(Reply.succeed(msg.reply, total), total)
        case "Crash":
          return Effect.die(new Error(`bad host ${key}`))
        case "Slow":
          return Effect.as(Effect.sleep("2 minutes"), total)
      }
    }
  })

const total = (keyed: Keyed.Keyed<string, Msg>, key: string) =>
  Keyed.ask(keyed, key, (reply: Reply.Reply<number>) => ({ _tag: "Get" as const, reply }), { timeout: "1 second" })

const add = (n: number): Msg => ({ _tag: "Add", n })

describe("Keyed", () => {
  it.effect("creates an entity on the first message for a key; the same key reaches the same entity", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const keyed = yield* Keyed.make({ name: "hosts", behavior: entity(starts, []), idleTimeout: "1 minute" })
      assert.strictEqual(yield* Keyed.size(keyed), 0)
      yield* Keyed.tell(keyed, "a.example", add(1))
      yield* Keyed.tell(keyed, "a.example", add(2))
      yield* Keyed.tell(keyed, "b.example", add(10))
      assert.strictEqual(yield* total(keyed, "a.example"), 3)
      assert.strictEqual(yield* total(keyed, "b.example"), 10)
      assert.strictEqual(yield* Keyed.size(keyed), 2)
      assert.deepStrictEqual(Object.fromEntries(starts), { "a.example": 1, "b.example": 1 })
      const a1 = yield* Keyed.get(keyed, "a.example")
      const a2 = yield* Keyed.get("a.example")(keyed)
      assert.isTrue(Option.isSome(a1))
      assert.strictEqual(Option.getOrThrow(a1), Option.getOrThrow(a2))
      assert.strictEqual(Option.getOrThrow(a1).name, "hosts[a.example]")
      assert.isTrue(Option.isNone(yield* Keyed.get(keyed, "c.example")), "get creates nothing")
      yield* Keyed.tell("c.example", add(1))(keyed)
      assert.strictEqual(yield* Keyed.size(keyed), 3)
    }))

  it.effect("an entity idle for the idle timeout is stopped (finalizers run) and forgotten; the next message makes a fresh one", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const released: Array<string> = []
      const keyed = yield* Keyed.make({ behavior: entity(starts, released), idleTimeout: "1 minute" })
      yield* Keyed.tell(keyed, "a", add(5))
      yield* TestClock.adjust("30 seconds")
      yield* Keyed.tell(keyed, "b", add(1))
      yield* TestClock.adjust("30 seconds")
      yield* settle
      assert.strictEqual(yield* Keyed.size(keyed), 2, "a has been idle 60 s: within the 1 to 1.5 × window")
      yield* TestClock.adjust("30 seconds")
      yield* settle
      assert.strictEqual(yield* Keyed.size(keyed), 1, "a idle for 90 s: passivated")
      assert.deepStrictEqual(released, ["a"])
      assert.isTrue(Option.isNone(yield* Keyed.get(keyed, "a")))
      yield* TestClock.adjust("30 seconds")
      yield* settle
      assert.strictEqual(yield* Keyed.size(keyed), 0)
      assert.strictEqual(yield* total(keyed, "a"), 0, "a fresh entity, fresh state")
      assert.strictEqual(starts.get("a"), 2)
    }))

  it.effect("activity keeps an entity alive: a steady sender's, and one busy with a slow message", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const keyed = yield* Keyed.make({ behavior: entity(new Map(), released), idleTimeout: "1 minute" })
      yield* Keyed.tell(keyed, "slow", { _tag: "Slow" })
      for (let i = 0; i < 6; i++) {
        yield* Keyed.tell(keyed, "chatty", add(1))
        yield* TestClock.adjust("20 seconds")
      }
      yield* settle
      assert.deepStrictEqual(released, [], "chatty was never idle for long; slow is still processing after 120 s")
      assert.strictEqual(yield* total(keyed, "chatty"), 6)
      yield* TestClock.adjust("90 seconds")
      yield* settle
      assert.deepStrictEqual([...released].sort(), ["chatty", "slow"])
    }))

  it.effect("keepIdle vetoes passivation while the state matters", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const keyed = yield* Keyed.make({
        behavior: entity(new Map(), released),
        idleTimeout: "1 minute",
        keepIdle: (total: number) => total > 0 // e.g. an open circuit
      })
      yield* Keyed.tell(keyed, "open", add(1))
      yield* Keyed.tell(keyed, "closed", add(0))
      yield* TestClock.adjust("10 minutes")
      yield* settle
      assert.deepStrictEqual(released, ["closed"])
      assert.strictEqual(yield* total(keyed, "open"), 1, "kept, with its state")
      yield* Keyed.tell(keyed, "open", add(-1))
      yield* TestClock.adjust("2 minutes")
      yield* settle
      assert.deepStrictEqual(released, ["closed", "open"])
    }))

  it.effect("a message for a key being passivated is not lost: it goes to a fresh entity; a stale ref fails loudly", () =>
    Effect.gen(function*() {
      const starts = new Map<string, number>()
      const released: Array<string> = []
      const keyed = yield* Keyed.make({
        // the old entity's release takes a while: the fresh one starts meanwhile
        behavior: (key: string) => {
          const base = entity(starts, released)(key)
          const slowRelease = Effect.addFinalizer(() => Effect.sleep("10 seconds"))
          return { ...base, init: Effect.tap(base.init, () => starts.get(key) === 1 ? slowRelease : Effect.void) }
        },
        idleTimeout: "1 minute"
      })
      yield* Keyed.tell(keyed, "a", add(1))
      const stale = Option.getOrThrow(yield* Keyed.get(keyed, "a"))
      yield* TestClock.adjust("90 seconds")
      yield* settle
      assert.strictEqual(yield* Keyed.size(keyed), 0, "passivated, its release still running")
      assert.isTrue(yield* Actor.isAlive(stale))
      yield* Keyed.tell(keyed, "a", add(7))
      assert.strictEqual(yield* total(keyed, "a"), 7)
      assert.strictEqual(starts.get("a"), 2)
      const refused = yield* Effect.flip(Actor.tell(stale, add(100)))
      assert.strictEqual(refused._tag, "ActorStopped", "the passivated entity refuses rather than drops")
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.isFalse(yield* Actor.isAlive(stale))
      assert.strictEqual(yield* total(keyed, "a"), 7)
    }))

  it.effect("a failing entity is removed and logged; the others and the registry carry on; the next message recreates it", () => {
    const warnings: Array<{ readonly message: string; readonly cause: Cause.Cause<unknown> }> = []
    const logger = Logger.make(({ cause, logLevel, message }) => {
      if (logLevel === "Warn") warnings.push({ message: (Array.isArray(message) ? message : [message]).join(" "), cause })
    })
    return Effect.gen(function*() {
      const starts = new Map<string, number>()
      const keyed = yield* Keyed.make({ name: "hosts", behavior: entity(starts, []), idleTimeout: "1 minute" })
      yield* Keyed.tell(keyed, "good", add(2))
      yield* Keyed.tell(keyed, "bad", add(2))
      yield* Keyed.tell(keyed, "bad", { _tag: "Crash" })
      yield* settle
      assert.strictEqual(yield* Keyed.size(keyed), 1)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0]!.message, `keyed "hosts": entity bad died: Error: bad host bad`)
      assert.strictEqual((Cause.squash(warnings[0]!.cause) as Error).message, "bad host bad")
      assert.strictEqual(yield* total(keyed, "good"), 2)
      assert.strictEqual(yield* total(keyed, "bad"), 0, "recreated with fresh state")
      assert.strictEqual(starts.get("bad"), 2)
    }).pipe(Effect.provide(Logger.layer([logger])))
  })

  it.effect("an entity whose init fails: the message fails with ActorStopped, the key is free again", () =>
    Effect.gen(function*() {
      let attempts = 0
      const keyed = yield* Keyed.make({
        behavior: (_key: string) =>
          Behavior.make({
            init: Effect.suspend(() => ++attempts === 1 ? Effect.fail("no config") : Effect.succeed(0)),
            receive: (n: number, _: number) => Effect.succeed(n + 1)
          }),
        idleTimeout: "1 minute"
      })
      const error = yield* Effect.flip(Keyed.tell(keyed, "a", 1))
      assert.strictEqual(error._tag, "ActorStopped")
      assert.strictEqual(yield* Keyed.size(keyed), 0)
      yield* Keyed.tell(keyed, "a", 1)
      assert.strictEqual(yield* Keyed.size(keyed), 1)
    }).pipe(Effect.provide(Logger.layer([]))))

  it.effect("closing the registry's scope stops every entity; later messages fail with ActorStopped", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const { keyed, refs } = yield* Effect.scoped(Effect.gen(function*() {
        const keyed = yield* Keyed.make({ behavior: entity(new Map(), released), idleTimeout: "1 minute" })
        for (const key of ["a", "b", "c"]) yield* Keyed.tell(keyed, key, add(1))
        const refs = [
          Option.getOrThrow(yield* Keyed.get(keyed, "a")),
          Option.getOrThrow(yield* Keyed.get(keyed, "b"))
        ]
        return { keyed, refs }
      }))
      assert.deepStrictEqual([...released].sort(), ["a", "b", "c"])
      for (const ref of refs) assert.isFalse(yield* Actor.isAlive(ref))
      assert.strictEqual((yield* Effect.flip(Keyed.tell(keyed, "d", add(1))))._tag, "ActorStopped")
    }))

  it.effect("invalid options fail with InvalidOptions", () =>
    Effect.gen(function*() {
      const behavior = entity(new Map(), [])
      assert.strictEqual((yield* Effect.flip(Keyed.make({ behavior, idleTimeout: 0 }))).option, "idleTimeout")
      assert.strictEqual((yield* Effect.flip(Keyed.make({ behavior, idleTimeout: -5 }))).option, "idleTimeout")
      assert.strictEqual((yield* Effect.flip(Keyed.make({ behavior, idleTimeout: "1 minute", mailbox: { capacity: 0 } }))).option, "capacity")
    }))
})
