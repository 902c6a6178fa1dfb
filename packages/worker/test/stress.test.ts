import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { WorkerPool } from "@trawl/worker"
import { Inc, Misbehave, Protocol, Reject, Spin } from "./fixtures/protocol.ts"
import { handler, osThreads, warmUp } from "./helpers.ts"

/** A small deterministic generator (mulberry32), so a failure replays. */
const random = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

type Kind = "inc" | "spin" | "reject" | "throw" | "exit" | "loop" | "impatient"

const expected: Record<Kind, ReadonlyArray<string>> = {
  inc: ["Success"],
  spin: ["Success"],
  reject: ["Rejected"],
  throw: ["TaskDefect"],
  exit: ["WorkerCrashed"],
  loop: ["TaskTimeout"],
  impatient: ["Success", "AskTimeout"]
}

describe("stress", () => {
  it.live("mixed load with crashes, deadlines, defects and timeouts: every ask settles as expected, no thread leaks", () =>
    Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const next = random(20261124)
      const kinds: Array<Kind> = Array.from({ length: 160 }, () => {
        const r = next()
        return r < 0.4 ? "inc" : r < 0.6 ? "spin" : r < 0.7 ? "reject" : r < 0.8 ? "throw" : r < 0.86 ? "exit" : r < 0.9 ? "loop" : "impatient"
      })
      const scope = yield* Scope.make()
      const pool = yield* Scope.provide(
        WorkerPool.make(Protocol, {
          handler,
          minSize: 1,
          maxSize: 2,
          taskDeadline: "300 millis",
          interruptGrace: "50 millis",
          crashLoop: { maxCrashes: 1000 },
          queueCapacity: 16
        }),
        scope
      )
      const run = (kind: Kind, i: number) => {
        switch (kind) {
          case "inc":
            return WorkerPool.ask(pool, new Inc({ n: i }), { timeout: "20 seconds" })
          case "spin":
            return WorkerPool.ask(pool, new Spin({ ms: 2 }), { timeout: "20 seconds" })
          case "reject":
            return WorkerPool.ask(pool, new Reject({ reason: `r${i}` }), { timeout: "20 seconds" })
          case "throw":
            return WorkerPool.ask(pool, new Misbehave({ kind: "throw", code: 0, delayMs: 0 }), { timeout: "20 seconds" })
          case "exit":
            return WorkerPool.ask(pool, new Misbehave({ kind: "exit", code: 1, delayMs: 1 }), { timeout: "20 seconds" })
          case "loop":
            return WorkerPool.ask(pool, new Misbehave({ kind: "loop", code: 0, delayMs: 0 }), { timeout: "20 seconds" })
          case "impatient":
            return WorkerPool.ask(pool, new Spin({ ms: 20 }), { timeout: "5 millis" })
        }
      }
      const exits = yield* Effect.forEach(kinds, (kind, i) => Effect.exit(run(kind, i)), { concurrency: 24 })
      exits.forEach((exit, i) => {
        const outcome = Exit.isSuccess(exit) ? "Success" : (exit.cause.reasons[0] as any)?.error?._tag ?? "Defect"
        assert.include(expected[kinds[i]!], outcome, `task ${i} (${kinds[i]}) ended as ${outcome}`)
      })
      const stats = yield* WorkerPool.stats(pool)
      assert.strictEqual(stats.queued + stats.blocked, 0)
      assert.strictEqual(stats.crashes, kinds.filter((k) => k === "exit").length, "one crash per exit task, no other")
      assert.strictEqual(stats.timedOut, kinds.filter((k) => k === "loop").length)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(osThreads(), baseline, "no thread outlives the pool")
    }), { timeout: 60_000 })
})
