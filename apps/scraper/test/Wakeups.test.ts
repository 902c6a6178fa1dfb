import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Wakeups } from "../src/internal/wakeups.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("Wakeups", () => {
  it.effect("every wake-up fires once, at its time, never before, whatever the order they are added in (property)", () =>
    Effect.gen(function*() {
      // Steps of the test clock: a batch of wake-ups is added (some in the past, some earlier
      // than the one slept for), then the clock moves on.
      const steps = fc.sample(
        fc.array(
          fc.record({
            adds: fc.array(fc.integer({ min: -50, max: 2_000 }), { maxLength: 8 }),
            advance: fc.integer({ min: 0, max: 700 })
          }),
          { minLength: 1, maxLength: 12 }
        ),
        { numRuns: 60, seed: 7 }
      )
      for (const run of steps) {
        yield* Effect.scoped(Effect.gen(function*() {
          const scope = yield* Effect.scope
          const fired: Array<{ readonly id: number; readonly at: number; readonly due: number }> = []
          const due = new Map<number, number>()
          const wakeups = new Wakeups<number>(
            (id) => Effect.map(Clock.currentTimeMillis, (at) => void fired.push({ id, at, due: due.get(id)! })),
            scope
          )
          let next = 0
          for (const step of run) {
            const now = yield* Clock.currentTimeMillis
            for (const offset of step.adds) {
              const id = next++
              due.set(id, now + offset)
              yield* wakeups.add(now + offset, id)
            }
            yield* settle
            yield* TestClock.adjust(step.advance)
            yield* settle
          }
          // whatever is left comes due once the clock passes the latest
          yield* TestClock.adjust(3_000)
          yield* settle
          assert.strictEqual(fired.length, next, "every wake-up fired")
          assert.strictEqual(new Set(fired.map((f) => f.id)).size, next, "none fired twice")
          for (const f of fired) assert.isAtLeast(f.at, f.due, `wake-up ${f.id} fired before its time`)
          assert.strictEqual(wakeups.size, 0)
        }))
      }
    }))

  it.effect("many wake-ups are served by one sleep at a time: one fiber, not one per wake-up", () =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      let fired = 0
      const wakeups = new Wakeups<number>(() => Effect.sync(() => void fired++), scope)
      const now = yield* Clock.currentTimeMillis
      // later and later, as host spacings come: only the first starts a sleep
      for (let i = 0; i < 1_000; i++) yield* wakeups.add(now + 250 + i, i)
      yield* settle
      assert.strictEqual(wakeups.sleepsStarted, 1)
      yield* TestClock.adjust(250 + 999)
      yield* settle
      assert.strictEqual(fired, 1_000)
      // one earlier than the one slept for starts a sleep of its own, which takes over
      yield* wakeups.add(now + 5_000, 1)
      yield* wakeups.add(now + 2_000, 2)
      assert.strictEqual(wakeups.sleepsStarted, 3)
      yield* TestClock.adjust(5_000)
      yield* settle
      assert.strictEqual(fired, 1_002)
    }))
})
