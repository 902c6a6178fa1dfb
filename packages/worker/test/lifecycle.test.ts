import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import { ActorError } from "@trawl/actor"
import { WorkerError, WorkerPool } from "@trawl/worker"
import { Inc, Misbehave, Protocol, Spin } from "./fixtures/protocol.ts"
import { eventually, expect, handler, osThreads, warmUp } from "./helpers.ts"

const spin = (ms: number) => new Spin({ ms })
const ask = (pool: WorkerPool.WorkerPool<typeof Protocol>, request: Spin) =>
  WorkerPool.ask(pool, request, { timeout: "10 seconds" })

describe("recycling and sizing", () => {
  it.live("activeMillis counts the threads' running time, not their waiting; a recycled thread's stays counted", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 2, maxSize: 2 })
      yield* Effect.all([ask(pool, spin(0)), ask(pool, spin(0))], { concurrency: 2 })
      const before = (yield* WorkerPool.stats(pool)).activeMillis
      // two threads idle for 300 ms: next to nothing
      yield* Effect.sleep("300 millis")
      const idle = (yield* WorkerPool.stats(pool)).activeMillis - before
      assert.isBelow(idle, 60, `idle threads counted ${idle} ms`)
      // 4 × 150 ms of spinning, two at a time
      yield* Effect.all([ask(pool, spin(150)), ask(pool, spin(150)), ask(pool, spin(150)), ask(pool, spin(150))], { concurrency: 2 })
      const busy = (yield* WorkerPool.stats(pool)).activeMillis - before - idle
      assert.isAtLeast(busy, 580, `spinning counted ${busy} ms`)
      assert.isBelow(busy, 900, `spinning counted ${busy} ms`)

      const recycling = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, maxTasksPerWorker: 1 })
      let last = 0
      for (let i = 0; i < 3; i++) {
        yield* ask(recycling, spin(100))
        const now = (yield* WorkerPool.stats(recycling)).activeMillis
        assert.isAtLeast(now, last + 100, `after task ${i}: ${now} ms, was ${last}`)
        last = now
      }
    })))

  it.live("recycling by count: a worker is replaced after maxTasksPerWorker tasks", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, maxTasksPerWorker: 3 })
      const threads: Array<number> = []
      for (let i = 0; i < 7; i++) threads.push(yield* ask(pool, spin(0)))
      assert.strictEqual(new Set(threads.slice(0, 3)).size, 1)
      assert.strictEqual(new Set(threads.slice(3, 6)).size, 1)
      assert.strictEqual(new Set(threads).size, 3, `threads ${threads}`)
      assert.notStrictEqual(threads[2], threads[3])
      assert.notStrictEqual(threads[5], threads[6])
      assert.strictEqual((yield* WorkerPool.stats(pool)).recycled, 2)
      assert.strictEqual((yield* WorkerPool.stats(pool)).crashes, 0)
    })))

  it.live("recycling by heap: a worker holding more than maxHeapUsedBytes is replaced after its task", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, maxHeapUsedBytes: 64 * 1024 * 1024 })
      const first = yield* WorkerPool.ask(pool, new Misbehave({ kind: "leak", code: 8, delayMs: 0 }), { timeout: "10 seconds" })
      assert.strictEqual(yield* ask(pool, spin(0)), first, "8 MB retained: under the limit, same thread")
      const leaky = yield* WorkerPool.ask(pool, new Misbehave({ kind: "leak", code: 96, delayMs: 0 }), { timeout: "10 seconds" })
      assert.strictEqual(leaky, first)
      const next = yield* ask(pool, spin(0))
      assert.notStrictEqual(next, first, "over the heap limit: replaced")
      assert.strictEqual((yield* WorkerPool.stats(pool)).recycled, 1)
    })))

  it.live("grows up to maxSize under load, and idle threads above minSize stop after idleTimeout", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 0, maxSize: 2, idleTimeout: "200 millis", prefetch: 1 })
      assert.strictEqual((yield* WorkerPool.stats(pool)).threads, 0, "minSize 0: no thread until needed")
      const load = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4, 5, 6], () => ask(pool, spin(150)), { concurrency: "unbounded" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.threads === 2, `threads ${s.threads}`)))
      assert.strictEqual(osThreads(), baseline + 2, "grew to maxSize, not beyond")
      yield* Fiber.join(load)
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.threads === 0, `still ${s.threads} threads`)))
      yield* eventually(Effect.suspend(() => expect(osThreads() === baseline, `os threads ${osThreads()} vs ${baseline}`)))
      // and it comes back on demand
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "10 seconds" }), 2)
    })))
})

describe("bounded queue", () => {
  it.live("backpressure: a full queue makes callers wait for room, nothing is lost", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, prefetch: 1, queueCapacity: 2 })
      const fiber = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4, 5], () => ask(pool, spin(60)), { concurrency: "unbounded" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) =>
        expect(s.busy === 1 && s.queued === 2 && s.blocked === 2, `not saturated yet: ${JSON.stringify(s)}`)))
      // a caller waiting for room gives up at its timeout and leaves no trace
      const impatient = yield* Effect.flip(WorkerPool.ask(pool, spin(1), { timeout: "30 millis" }))
      assert.instanceOf(impatient, ActorError.AskTimeout)
      assert.strictEqual((yield* WorkerPool.stats(pool)).blocked, 2)
      const results = yield* Fiber.join(fiber)
      assert.strictEqual(results.length, 5)
      const stats = yield* WorkerPool.stats(pool)
      assert.strictEqual(stats.completed, 5)
      assert.strictEqual(stats.queued + stats.blocked, 0)
    })))

  it.live("fail-fast: with overflow 'fail' a full queue gives PoolSaturated at once", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, prefetch: 1, queueCapacity: 2, overflow: "fail" })
      const exits = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.exit(ask(pool, spin(50))), { concurrency: "unbounded" })
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 3, "one running + two queued")
      const saturated = yield* Effect.flip(exits.find(Exit.isFailure)!)
      assert.instanceOf(saturated, WorkerError.PoolSaturated)
      assert.strictEqual((saturated as WorkerError.PoolSaturated).capacity, 2)
    })))

  it.live("tell: returns once queued; under backpressure it waits for room, up to enqueueTimeout", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, {
        handler,
        minSize: 1,
        maxSize: 1,
        prefetch: 1,
        queueCapacity: 1,
        enqueueTimeout: "100 millis"
      })
      yield* WorkerPool.tell(pool, spin(300))
      yield* WorkerPool.tell(pool, spin(10))
      const stats = yield* WorkerPool.stats(pool)
      assert.strictEqual(stats.busy, 1)
      assert.strictEqual(stats.queued, 1)
      const started = performance.now()
      const saturated = yield* Effect.flip(WorkerPool.tell(pool, spin(10)))
      assert.instanceOf(saturated, WorkerError.PoolSaturated)
      assert.isAtLeast(performance.now() - started, 90)
      assert.strictEqual((yield* WorkerPool.stats(pool)).blocked, 0, "the refused tell left no trace")
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.completed === 2, `completed ${s.completed}`)))
    })))
})

describe("shutdown", () => {
  it.live("closing the scope drains queued and running tasks, then no thread of the pool is left", () =>
    Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const scope = yield* Scope.make()
      const pool = yield* Scope.provide(WorkerPool.make(Protocol, { handler, minSize: 2, maxSize: 2 }), scope)
      const asks = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4, 5, 6], () => ask(pool, spin(50)), { concurrency: "unbounded" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.busy === 2, "not busy yet")))
      assert.strictEqual(osThreads(), baseline + 2)
      yield* Scope.close(scope, Exit.void)
      const results = yield* Fiber.join(asks)
      assert.strictEqual(results.length, 6, "every accepted task finished")
      assert.strictEqual(osThreads(), baseline, "zero live threads once the scope is closed")
      assert.strictEqual((yield* WorkerPool.stats(pool)).threads, 0)
      const refused = yield* Effect.flip(ask(pool, spin(0)))
      assert.instanceOf(refused, ActorError.ActorStopped)
    }))

  it.live("shutdown 'interrupt': running and queued asks get ActorStopped, stuck threads are terminated", () =>
    Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const scope = yield* Scope.make()
      const pool = yield* Scope.provide(WorkerPool.make(Protocol, { handler, minSize: 2, maxSize: 2, shutdown: "interrupt" }), scope)
      const loop = new Misbehave({ kind: "loop", code: 0, delayMs: 0 })
      const asks = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4, 5], () =>
        Effect.flip(WorkerPool.ask(pool, loop, { timeout: "30 seconds" })), { concurrency: "unbounded" }))
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (s) => expect(s.busy === 2, "not busy yet")))
      const started = performance.now()
      yield* Scope.close(scope, Exit.void)
      assert.isBelow(performance.now() - started, 1000, "no waiting for stuck tasks")
      const errors = yield* Fiber.join(asks)
      assert.deepStrictEqual(errors.map((e) => e._tag), ["ActorStopped", "ActorStopped", "ActorStopped", "ActorStopped", "ActorStopped"])
      assert.strictEqual(osThreads(), baseline, "zero live threads once the scope is closed")
    }))
})

describe("metrics and options", () => {
  const find = (id: string, pool: string) =>
    Effect.map(Metric.snapshot, (snapshots) => snapshots.find((s) => s.id === id && s.attributes?.pool === pool))

  it.live("queue wait and run time histograms, completed tasks, crashes, recycles, threads, utilization", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, name: "metered", minSize: 1, maxSize: 1, maxTasksPerWorker: 5 })
      yield* Effect.forEach(Array.from({ length: 10 }, () => spin(2)), (request) => ask(pool, request), { concurrency: 4 })
      yield* Effect.flip(WorkerPool.ask(pool, new Misbehave({ kind: "exit", code: 2, delayMs: 0 }), { timeout: "10 seconds" }))
      const runTime = yield* find("trawl_worker_run_ms", "metered")
      assert.strictEqual(runTime?.type, "Histogram")
      const runState = runTime!.state as Metric.HistogramState
      assert.strictEqual(runState.count, 10)
      assert.isAtLeast(runState.min, 1.9, "each task spun 2 ms")
      const queueWait = yield* find("trawl_worker_queue_wait_ms", "metered")
      assert.strictEqual((queueWait!.state as Metric.HistogramState).count, 11)
      const counter = (id: string) => Effect.map(find(id, "metered"), (s) => Number((s!.state as Metric.CounterState<number>).count))
      assert.strictEqual(yield* counter("trawl_worker_tasks_completed"), 10)
      assert.strictEqual(yield* counter("trawl_worker_crashes"), 1)
      assert.strictEqual(yield* counter("trawl_worker_recycles"), 2)
      const threads = yield* find("trawl_worker_threads", "metered")
      assert.strictEqual(threads?.type, "Gauge")
      const utilization = yield* find("trawl_worker_utilization", "metered")
      assert.strictEqual(utilization?.type, "Gauge")
    })))

  it.live("invalid options are refused with InvalidOptions before any thread starts", () =>
    Effect.gen(function*() {
      const tooSmall = yield* Effect.flip(Effect.scoped(WorkerPool.make(Protocol, { handler, minSize: 3, maxSize: 2 })))
      assert.instanceOf(tooSmall, ActorError.InvalidOptions)
      assert.strictEqual((tooSmall as ActorError.InvalidOptions).option, "minSize")
      const negative = yield* Effect.flip(Effect.scoped(WorkerPool.make(Protocol, { handler, taskDeadline: -5 })))
      assert.strictEqual((negative as ActorError.InvalidOptions).option, "taskDeadline")
      const policy = yield* Effect.flip(Effect.scoped(WorkerPool.make(Protocol, { handler, overflow: "drop" as "fail" })))
      assert.strictEqual((policy as ActorError.InvalidOptions).option, "overflow")
      const prefetch = yield* Effect.flip(Effect.scoped(WorkerPool.make(Protocol, { handler, prefetch: 0 })))
      assert.strictEqual((prefetch as ActorError.InvalidOptions).option, "prefetch")
    }))
})

describe("ask options", () => {
  it.live("an unparsable or negative ask timeout is InvalidOptions, not a defect", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      const garbage = yield* Effect.flip(WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "soon" as "1 second" }))
      assert.instanceOf(garbage, ActorError.InvalidOptions)
      const negative = yield* Effect.flip(WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: -1 }))
      assert.instanceOf(negative, ActorError.InvalidOptions)
      const deadline = yield* Effect.flip(WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "1 second", deadline: -1 }))
      assert.instanceOf(deadline, ActorError.InvalidOptions)
    })))
})

describe("configuration", () => {
  it.live("WorkerPool.config reads sizing from Effect Config; unset keys stay undefined", () =>
    Effect.gen(function*() {
      const options = yield* WorkerPool.config
      assert.deepStrictEqual(options, { minSize: 1, maxSize: 3, taskDeadline: options.taskDeadline })
      assert.isDefined(options.taskDeadline)
      const stats = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* WorkerPool.make(Protocol, { ...options, handler })
        yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => ask(pool, spin(100)), { concurrency: "unbounded" })
        return yield* WorkerPool.stats(pool)
      }))
      assert.isAtMost(stats.threads, 3)
    }).pipe(Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromEnvRecord({ MIN_SIZE: "1", MAX_SIZE: "3", TASK_DEADLINE: "5 seconds" })
    )))
})
