import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { Actor, Behavior, Mailbox } from "../src/index.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

describe("Mailbox", () => {
  it.effect("backpressure: a sender waits for room and resumes when a batch is taken", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>({ capacity: 2 })
      yield* Mailbox.offer(mailbox, 1)
      yield* Mailbox.offer(mailbox, 2)
      const blocked = yield* Effect.forkChild(Mailbox.offer(mailbox, 3))
      yield* settle
      assert.isUndefined(blocked.pollUnsafe(), "third sender is still waiting")
      assert.deepStrictEqual(yield* Mailbox.takeBatch(mailbox, 10), [1, 2])
      assert.isTrue(yield* Fiber.join(blocked))
      assert.deepStrictEqual(yield* Mailbox.takeBatch(mailbox, 10), [3])
    }))

  it.effect("fail: a full mailbox fails with MailboxFull", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>({ capacity: 1, overflow: "fail", name: "tiny" })
      yield* Mailbox.offer(mailbox, 1)
      const error = yield* Effect.flip(Mailbox.offer(mailbox, 2))
      assert.strictEqual(error._tag, "MailboxFull")
      assert.match(error.message, /tiny.*capacity 1/)
    }))

  it.effect("dropNewest drops the arriving message and counts it", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>({ capacity: 2, overflow: "dropNewest" })
      for (const n of [1, 2, 3, 4]) yield* Mailbox.offer(mailbox, n)
      assert.deepStrictEqual(yield* Mailbox.takeBatch(mailbox, 10), [1, 2])
      assert.strictEqual(mailbox.dropped, 2)
    }))

  it.effect("dropOldest drops the oldest message and counts it", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>({ capacity: 2, overflow: "dropOldest" })
      for (const n of [1, 2, 3, 4]) yield* Mailbox.offer(mailbox, n)
      assert.deepStrictEqual(yield* Mailbox.takeBatch(mailbox, 10), [3, 4])
      assert.strictEqual(mailbox.dropped, 2)
    }))

  it.effect("end lets queued messages be taken and refuses waiting and new senders", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>({ capacity: 1 })
      yield* Mailbox.offer(mailbox, 1)
      const waiting = yield* Effect.forkChild(Mailbox.offer(mailbox, 2))
      yield* settle
      yield* Mailbox.end(mailbox)
      assert.strictEqual((yield* Effect.flip(Fiber.join(waiting)))._tag, "MailboxClosed")
      assert.strictEqual((yield* Effect.flip(Mailbox.offer(mailbox, 3)))._tag, "MailboxClosed")
      assert.strictEqual(yield* Mailbox.take(mailbox), 1)
      assert.strictEqual((yield* Effect.flip(Mailbox.take(mailbox)))._tag, "MailboxClosed")
    }))

  it.effect("a taker waiting on an empty mailbox wakes on offer and on close", () =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<string>()
      const taker = yield* Effect.forkChild(Mailbox.take(mailbox))
      yield* settle
      yield* Mailbox.offer(mailbox, "x")
      assert.strictEqual(yield* Fiber.join(taker), "x")
      const second = yield* Effect.forkChild(Mailbox.take(mailbox))
      yield* settle
      assert.deepStrictEqual(yield* Mailbox.shutdown(mailbox), [])
      assert.strictEqual((yield* Effect.flip(Fiber.join(second)))._tag, "MailboxClosed")
    }))

  it.effect("invalid capacity and policy are rejected", () =>
    Effect.gen(function*() {
      for (const capacity of [0, -1, 2.5, Number.NaN, Infinity]) {
        assert.strictEqual((yield* Effect.flip(Mailbox.make({ capacity })))._tag, "InvalidOptions")
      }
      assert.strictEqual((yield* Effect.flip(Mailbox.make({ overflow: "drop" as never })))._tag, "InvalidOptions")
    }))

  it.effect("actor mailbox policies: fail gives MailboxFull to tell, drops are counted", () =>
    Effect.gen(function*() {
      const blocker = Behavior.stateless((_: number) => Effect.never)
      const failing = yield* Actor.spawn(blocker, { capacity: 2, overflow: "fail" })
      yield* Actor.tell(failing, 0) // taken by the (blocked) actor
      yield* settle
      yield* Actor.tell(failing, 1)
      yield* Actor.tell(failing, 2)
      assert.strictEqual((yield* Effect.flip(Actor.tell(failing, 3)))._tag, "MailboxFull")
      const dropping = yield* Actor.spawn(blocker, { capacity: 2, overflow: "dropOldest" })
      yield* Actor.tell(dropping, 0) // taken by the (blocked) actor
      yield* settle
      for (let i = 1; i <= 6; i++) yield* Actor.tell(dropping, i)
      assert.strictEqual(yield* Actor.droppedCount(dropping), 4)
      assert.strictEqual(yield* Actor.mailboxSize(dropping), 2)
      // the size is measured against the capacity given at spawn (the default: 1,024)
      assert.strictEqual(Actor.mailboxCapacity(dropping), 2)
      assert.strictEqual(Actor.mailboxCapacity(yield* Actor.spawn(blocker)), 1024)
    }))

  // A model test: random sequences of offer / takeBatch / end against a plain array model.
  type Command =
    | { readonly _tag: "offer"; readonly value: number }
    | { readonly _tag: "take"; readonly max: number }
    | { readonly _tag: "end" }
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 5, arbitrary: fc.integer().map((value) => ({ _tag: "offer" as const, value })) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }).map((max) => ({ _tag: "take" as const, max })) },
    { weight: 1, arbitrary: fc.constant({ _tag: "end" as const }) }
  )
  const policy = fc.constantFrom<Mailbox.OverflowPolicy>("fail", "dropNewest", "dropOldest")

  const model = (capacity: number, overflow: Mailbox.OverflowPolicy, commands: ReadonlyArray<Command>) =>
    Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<number>({ capacity, overflow })
      const expected: Array<number> = []
      let ended = false
      let dropped = 0
      for (const cmd of commands) {
        if (cmd._tag === "offer") {
          const result = yield* Effect.result(Mailbox.offer(mailbox, cmd.value))
          if (ended) {
            assert.strictEqual(result._tag === "Failure" && result.failure._tag, "MailboxClosed")
          } else if (expected.length < capacity) {
            expected.push(cmd.value)
            assert.deepStrictEqual(result._tag === "Success" && result.success, true)
          } else if (overflow === "fail") {
            assert.strictEqual(result._tag === "Failure" && result.failure._tag, "MailboxFull")
          } else if (overflow === "dropNewest") {
            dropped++
          } else {
            expected.shift()
            expected.push(cmd.value)
            dropped++
          }
        } else if (cmd._tag === "take") {
          if (expected.length === 0) {
            const polled = yield* Mailbox.poll(mailbox)
            assert.isTrue(Option.isNone(polled))
          } else {
            const batch = yield* Mailbox.takeBatch(mailbox, cmd.max)
            assert.deepStrictEqual(batch, expected.splice(0, cmd.max))
          }
        } else {
          yield* Mailbox.end(mailbox)
          ended = true
        }
        assert.strictEqual(mailbox.size, expected.length)
        assert.strictEqual(mailbox.dropped, dropped)
      }
    })

  it("behaves like the model under every non-blocking policy (fast-check)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), policy, fc.array(command, { maxLength: 60 }), (capacity, overflow, commands) => {
        Effect.runSync(model(capacity, overflow, commands))
      }),
      { numRuns: 500 }
    )
  })
})
