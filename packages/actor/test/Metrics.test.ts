import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import { Actor, Behavior, Reply, Supervisor } from "../src/index.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("metrics", () => {
  it.effect("count processed and dropped messages, restarts, ask latency and named mailbox depth", () =>
    Effect.gen(function*() {
      const processedBefore = (yield* Metric.value(Actor.metrics.messagesProcessed)).count
      const droppedBefore = (yield* Metric.value(Actor.metrics.messagesDropped)).count
      const restartsBefore = (yield* Metric.value(Actor.metrics.restarts)).count
      const asksBefore = (yield* Metric.value(Actor.metrics.askLatency)).count

      const echo = yield* Actor.spawn(Behavior.stateless((msg: { readonly reply: Reply.Reply<number> }) =>
        Effect.asVoid(Reply.succeed(msg.reply, 1))
      ), { name: "echo" })
      for (let i = 0; i < 3; i++) yield* Actor.ask(echo, (reply: Reply.Reply<number>) => ({ reply }), { timeout: "1 second" })

      const blocked = yield* Actor.spawn(Behavior.stateless((_: number) => Effect.never), { name: "blocked", capacity: 2, overflow: "dropNewest" })
      yield* Actor.tell(blocked, 0) // taken, and never finished
      yield* settle
      for (let i = 1; i <= 4; i++) yield* Actor.tell(blocked, i) // two queued, two dropped
      yield* settle

      const supervisor = yield* Supervisor.make({ backoff: Schedule.spaced("0 millis") })
      const crashy = yield* Supervisor.spawn(supervisor, Behavior.stateless((_: "crash") => Effect.fail("boom")))
      yield* Actor.tell(crashy, "crash")
      yield* settle

      assert.isAtLeast((yield* Metric.value(Actor.metrics.messagesProcessed)).count - processedBefore, 4)
      assert.strictEqual((yield* Metric.value(Actor.metrics.messagesDropped)).count - droppedBefore, 2)
      assert.strictEqual((yield* Metric.value(Actor.metrics.restarts)).count - restartsBefore, 1)
      assert.strictEqual((yield* Metric.value(Actor.metrics.askLatency)).count - asksBefore, 3)
      const depth = yield* Metric.value(Metric.withAttributes(Actor.metrics.mailboxDepth, { actor: "blocked" }))
      assert.isAtLeast(depth.value, 1)
    }))
})
