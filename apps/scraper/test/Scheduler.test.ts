import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { DueHeap } from "../src/internal/dueHeap.ts"
import { Scheduler } from "../src/index.ts"

interface Target {
  readonly id: number
  readonly host: string
  readonly intervalMillis: number
}

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("DueHeap", () => {
  it("pops in due order under random sets, moves and deletes (model test)", () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.record({ op: fc.constant("set" as const), id: fc.integer({ min: 0, max: 50 }), due: fc.integer({ min: 0, max: 1000 }) }),
        fc.record({ op: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 50 }) }),
        fc.record({ op: fc.constant("pop" as const) })
      ), { maxLength: 200 }),
      (ops) => {
        const heap = new DueHeap(2)
        const model = new Map<number, number>()
        for (const op of ops) {
          if (op.op === "set") {
            heap.set(op.id, op.due)
            model.set(op.id, op.due)
          } else if (op.op === "delete") {
            assert.strictEqual(heap.delete(op.id), model.delete(op.id))
          } else {
            const id = heap.pop()
            if (model.size === 0) {
              assert.isUndefined(id)
            } else {
              const min = Math.min(...model.values())
              assert.strictEqual(model.get(id!), min)
              model.delete(id!)
            }
          }
          assert.strictEqual(heap.size, model.size)
        }
      }
    ), { numRuns: 300 })
  })

  it("refuses ids that are not int32", () => {
    const heap = new DueHeap()
    assert.throws(() => heap.set(-1, 0), RangeError)
    assert.throws(() => heap.set(1.5, 0), RangeError)
  })

  it("a million targets: pop order holds, overdue counting stays bounded", () => {
    const heap = new DueHeap()
    const n = 1_000_000
    for (let i = 0; i < n; i++) heap.set(i, (i * 7919) % n)
    assert.strictEqual(heap.size, n)
    assert.strictEqual(heap.countDueBefore(99, 10_000), 100)
    assert.strictEqual(heap.countDueBefore(n, 10_000), 10_000)
    let previous = -1
    for (let i = 0; i < 1000; i++) {
      const due = heap.peekDue()!
      assert.isAtLeast(due, previous)
      previous = due
      heap.pop()
    }
  })
})

describe("Scheduler", () => {
  it.effect("dispatches due targets in due order, then again after their interval", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0 })
      const dispatched: Array<[number, number]> = []
      yield* scheduler.upsert({ id: 1, host: "a", intervalMillis: 60_000 }, 1_000)
      yield* scheduler.upsert({ id: 2, host: "b", intervalMillis: 60_000 }, 500)
      yield* Effect.forkChild(scheduler.run((target) =>
        Effect.gen(function*() {
          dispatched.push([target.id, yield* Effect.clockWith((clock) => clock.currentTimeMillis)])
          yield* scheduler.complete(target.id, { ok: true })
        })
      ))
      yield* settle
      assert.deepStrictEqual(dispatched, [])
      yield* TestClock.adjust(500)
      yield* settle
      assert.deepStrictEqual(dispatched, [[2, 500]])
      yield* TestClock.adjust(500)
      yield* settle
      assert.deepStrictEqual(dispatched, [[2, 500], [1, 1000]])
      yield* TestClock.adjust(60_000)
      yield* settle
      assert.deepStrictEqual(dispatched.slice(2), [[2, 60_500], [1, 61_000]])
    }))

  it.effect("a failing target backs off exponentially, and a success resets it", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0, maxBackoffMillis: 10_000 })
      yield* scheduler.upsert({ id: 7, host: "a", intervalMillis: 1_000 })
      const jobs = yield* Queue.bounded<Target>(10)
      yield* Effect.forkChild(scheduler.run((target) => Queue.offer(jobs, target)))
      yield* settle
      yield* Queue.take(jobs)
      assert.strictEqual(yield* scheduler.complete(7, { ok: false }), 2_000)
      yield* TestClock.adjust(2_000)
      yield* settle
      yield* Queue.take(jobs)
      assert.strictEqual(yield* scheduler.complete(7, { ok: false }), 2_000 + 4_000)
      yield* TestClock.adjust(4_000)
      yield* settle
      yield* Queue.take(jobs)
      assert.strictEqual(yield* scheduler.complete(7, { ok: false }), 6_000 + 8_000)
      yield* TestClock.adjust(8_000)
      yield* settle
      yield* Queue.take(jobs)
      assert.strictEqual(yield* scheduler.complete(7, { ok: false }), 14_000 + 10_000, "capped")
      yield* TestClock.adjust(10_000)
      yield* settle
      yield* Queue.take(jobs)
      assert.strictEqual(yield* scheduler.complete(7, { ok: true }), 24_000 + 1_000)
    }))

  it.effect("jitter spreads next due times within ± the fraction", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0.2 })
      const jobs = yield* Queue.bounded<Target>(1000)
      for (let id = 0; id < 200; id++) yield* scheduler.upsert({ id, host: "h", intervalMillis: 10_000 })
      yield* Effect.forkChild(scheduler.run((target) => Queue.offer(jobs, target)))
      yield* settle
      const dues: Array<number> = []
      for (let i = 0; i < 200; i++) {
        const target = yield* Queue.take(jobs)
        dues.push((yield* scheduler.complete(target.id, { ok: true }))!)
      }
      assert.isAtLeast(Math.min(...dues), 8_000)
      assert.isAtMost(Math.max(...dues), 12_000)
      assert.isAbove(new Set(dues).size, 100, "not all the same")
    }))

  it.effect("a saturated pipeline slows the scheduler: lag is measured, nothing queues up beyond the bounded queue", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0 })
      const jobs = yield* Queue.bounded<Target>(5)
      for (let id = 0; id < 100; id++) yield* scheduler.upsert({ id, host: `h${id}`, intervalMillis: 60_000 })
      // the consumer reports each visit's lag when it takes the target, as the pipeline's fetch stage does
      const runner = yield* Effect.forkChild(scheduler.run((target, dueAt) =>
        Effect.andThen(Queue.offer(jobs, target), Effect.flatMap(Clock.currentTimeMillis, (now) => scheduler.recordLag(now - dueAt)))
      ))
      yield* settle
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.dispatched, 5, "5 queued")
      assert.strictEqual(stats.inFlight, 6, "and one waiting to be offered")
      assert.strictEqual(yield* Queue.size(jobs), 5)
      assert.strictEqual(stats.overdue, 94)
      yield* TestClock.adjust(3_000)
      for (let i = 0; i < 10; i++) yield* Queue.take(jobs)
      yield* settle
      const later = yield* scheduler.stats
      assert.strictEqual(later.dispatched, 15)
      assert.strictEqual(later.lagP99Millis, 3_000, "targets dispatched after the wait are 3 s late")
      yield* Fiber.interrupt(runner)
    }))

  it.effect("a dispatch interrupted while it waits for room puts the target back, never handed out", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0 })
      const jobs = yield* Queue.bounded<Target>(1)
      for (let id = 0; id < 3; id++) yield* scheduler.upsert({ id, host: `h${id}`, intervalMillis: 60_000 })
      const runner = yield* Effect.forkChild(scheduler.run((target) => Queue.offer(jobs, target)))
      yield* settle
      assert.strictEqual((yield* scheduler.stats).inFlight, 2)
      yield* Fiber.interrupt(runner)
      const stats = yield* scheduler.stats
      assert.strictEqual(stats.dispatched, 1)
      assert.strictEqual(stats.inFlight, 1, "only the target in the queue is in flight")
      assert.strictEqual(stats.overdue, 2, "the interrupted one is due again")
    }))

  it.effect("an upsert with an earlier due time wakes a sleeping scheduler", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0 })
      const dispatched: Array<number> = []
      yield* scheduler.upsert({ id: 1, host: "a", intervalMillis: 1_000 }, 1_000_000)
      yield* Effect.forkChild(scheduler.run((target) => Effect.sync(() => dispatched.push(target.id))))
      yield* settle
      yield* scheduler.upsert({ id: 2, host: "b", intervalMillis: 1_000 }, 10)
      yield* TestClock.adjust(10)
      yield* settle
      assert.deepStrictEqual(dispatched, [2])
    }))

  it.effect("a host's targets due within 5 s of one dispatched go with it; a later one, or a large host's, in due order", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.make<Target>({ jitter: 0 })
      const dispatched: Array<[number, number]> = []
      // due order: a1 (0), b1 (100), a2 (4,000), a3 (9,000); a2 comes along with a1
      yield* scheduler.upsert({ id: 1, host: "a", intervalMillis: 60_000 }, 0)
      yield* scheduler.upsert({ id: 2, host: "b", intervalMillis: 60_000 }, 100)
      yield* scheduler.upsert({ id: 3, host: "a", intervalMillis: 60_000 }, 4_000)
      yield* scheduler.upsert({ id: 4, host: "a", intervalMillis: 60_000 }, 9_000)
      // a large host (100 targets, all due at 200, 300, …): not coalesced
      for (let i = 0; i < 100; i++) yield* scheduler.upsert({ id: 100 + i, host: "big", intervalMillis: 60_000 }, 200 + i * 100)
      yield* Effect.forkChild(scheduler.run((target, dueAt) => Effect.sync(() => dispatched.push([target.id, dueAt]))))
      yield* settle
      assert.deepStrictEqual(dispatched, [[1, 0], [3, 4_000]])
      yield* TestClock.adjust(300)
      yield* settle
      assert.deepStrictEqual(dispatched.slice(2), [[2, 100], [100, 200], [101, 300]])
      yield* TestClock.adjust(8_700)
      yield* settle
      assert.deepStrictEqual(dispatched.map(([id]) => id).filter((id) => id < 100), [1, 3, 2, 4])
      // a removed target no longer comes along
      yield* scheduler.remove(1)
      yield* scheduler.upsert({ id: 5, host: "c", intervalMillis: 60_000 }, 20_000)
      yield* scheduler.upsert({ id: 6, host: "c", intervalMillis: 60_000 }, 21_000)
      yield* scheduler.remove(6)
      yield* TestClock.adjust(11_000)
      yield* settle
      assert.deepStrictEqual(dispatched.map(([id]) => id).filter((id) => id < 100).slice(4), [5])
    }))
})
