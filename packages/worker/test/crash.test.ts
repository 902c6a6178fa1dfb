import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { WorkerError, WorkerPool } from "@trawl/worker"
import { CrashOnce, CrashWithBytes, Inc, Misbehave, Protocol, Spin } from "./fixtures/protocol.ts"
import { eventually, expect, handler, osThreads, warmUp } from "./helpers.ts"

const exit = (code: number, delayMs = 0) => new Misbehave({ kind: "exit", code, delayMs })

describe("crashes", () => {
  it.live("a crash mid-task with 10 tasks in flight: every ask settles, the pool is back to full size", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 2, maxSize: 2 })
      // 2 running, 2 prefetched, 6 queued; the third task kills its thread 20 ms into its run
      const requests = Array.from({ length: 10 }, (_, i) => (i === 2 ? exit(3, 20) : new Spin({ ms: 30 })))
      const exits = yield* Effect.forEach(
        requests,
        (request) => Effect.exit(WorkerPool.ask(pool, request as Spin, { timeout: "10 seconds" })),
        { concurrency: "unbounded" }
      )
      const crashed = exits.flatMap((e) => (Exit.isFailure(e) ? [e] : []))
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 9, "every other task succeeded, none was lost")
      assert.strictEqual(crashed.length, 1)
      const error = yield* Effect.flip(crashed[0]!)
      assert.instanceOf(error, WorkerError.WorkerCrashed)
      const crash = error as WorkerError.WorkerCrashed
      assert.strictEqual(crash.exitCode, 3)
      assert.strictEqual(crash.task, "Misbehave")
      assert.isFalse(crash.retried)
      yield* eventually(Effect.flatMap(WorkerPool.stats(pool), (stats) =>
        expect(stats.threads === 2 && stats.idle === 2 && stats.crashes === 1, `not back to full size: ${JSON.stringify(stats)}`)))
      assert.strictEqual(osThreads(), baseline + 2, "the dead thread is gone, its replacement is up")
    })))

  it.live("retry once: a task whose thread died is re-run on a fresh thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, retry: "once" })
      const marker = join(mkdtempSync(join(tmpdir(), "trawl-worker-")), "crashed")
      const first = yield* WorkerPool.ask(pool, new Spin({ ms: 0 }), { timeout: "5 seconds" })
      const second = yield* WorkerPool.ask(pool, new CrashOnce({ marker }), { timeout: "10 seconds" })
      assert.notStrictEqual(second, first, "the retry ran on the replacement thread")
      assert.strictEqual((yield* WorkerPool.stats(pool)).crashes, 1)
      // a task that crashes every time fails after its second attempt
      const error = yield* Effect.flip(WorkerPool.ask(pool, exit(4), { timeout: "10 seconds" }))
      assert.instanceOf(error, WorkerError.WorkerCrashed)
      assert.isTrue((error as WorkerError.WorkerCrashed).retried)
      // per-ask override
      const once = yield* Effect.flip(WorkerPool.ask(pool, exit(5), { timeout: "10 seconds", retry: "never" }))
      assert.isFalse((once as WorkerError.WorkerCrashed).retried)
    })))

  it.live("retry once does not re-run a request whose transferred bytes died with the thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1, retry: "once" })
      const data = new Uint8Array(1024)
      const error = yield* Effect.flip(WorkerPool.ask(pool, new CrashWithBytes({ data }), { timeout: "10 seconds" }))
      assert.isTrue(data.buffer.detached, "the bytes went to the thread that died")
      assert.instanceOf(error, WorkerError.WorkerCrashed)
      assert.strictEqual((error as WorkerError.WorkerCrashed).exitCode, 3)
      assert.isFalse((error as WorkerError.WorkerCrashed).retried)
      assert.strictEqual((yield* WorkerPool.stats(pool)).crashes, 1, "one attempt only")
    })))

  it.live("an uncaught exception in the thread is a crash carrying the error", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, { handler, minSize: 1, maxSize: 1 })
      const error = yield* Effect.flip(WorkerPool.ask(pool, new Misbehave({ kind: "uncaught", code: 0, delayMs: 10 }), { timeout: "5 seconds" }))
      assert.instanceOf(error, WorkerError.WorkerCrashed)
      assert.strictEqual((error as WorkerError.WorkerCrashed).exitCode, 1)
      assert.include(error.message, "boom from a timer")
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "5 seconds" }), 2)
    })))

  it.live("out of memory under resourceLimits is a crash; the pool replaces the thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, {
        handler,
        minSize: 1,
        maxSize: 1,
        resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 }
      })
      const error = yield* Effect.flip(WorkerPool.ask(pool, new Misbehave({ kind: "oom", code: 0, delayMs: 0 }), { timeout: "20 seconds" }))
      assert.instanceOf(error, WorkerError.WorkerCrashed)
      assert.include(error.message, "memory limit")
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "5 seconds" }), 2)
    })))

  it.live("a crash loop opens the breaker: asks fail fast with PoolUnavailable; after the cooldown one success closes it", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, {
        handler,
        minSize: 1,
        maxSize: 1,
        crashLoop: { maxCrashes: 3, window: "10 seconds", cooldown: "400 millis" }
      })
      // three crashes in a row (one queued task waits behind them)
      const crashes = yield* Effect.forEach([exit(6), exit(6), exit(6)], (request) =>
        Effect.flip(WorkerPool.ask(pool, request, { timeout: "10 seconds", retry: "never" })))
      assert.deepStrictEqual(crashes.map((e) => e._tag), ["WorkerCrashed", "WorkerCrashed", "WorkerCrashed"])
      const stats = yield* WorkerPool.stats(pool)
      assert.strictEqual(stats.breaker, "open")
      const started = performance.now()
      const unavailable = yield* Effect.flip(WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "10 seconds" }))
      assert.instanceOf(unavailable, WorkerError.PoolUnavailable)
      assert.isBelow(performance.now() - started, 50, "fails fast, without spawning")
      assert.strictEqual((unavailable as WorkerError.PoolUnavailable).crashes, 3)
      assert.include(unavailable.message, "exit code 6")
      assert.strictEqual((yield* WorkerPool.stats(pool)).threads, 0, "no respawning while open")
      // after the cooldown: half-open, a fresh worker, and a success closes the breaker
      yield* Effect.sleep("450 millis")
      assert.strictEqual(yield* WorkerPool.ask(pool, new Inc({ n: 1 }), { timeout: "10 seconds" }), 2)
      assert.strictEqual((yield* WorkerPool.stats(pool)).breaker, "closed")
    })))

  it.live("queued tasks fail with PoolUnavailable when the breaker opens", () =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, {
        handler,
        minSize: 1,
        maxSize: 1,
        prefetch: 1,
        crashLoop: { maxCrashes: 1, cooldown: "10 seconds" }
      })
      const exits = yield* Effect.forEach(
        [exit(8, 30), new Spin({ ms: 1 }), new Spin({ ms: 1 })],
        (request) => Effect.flip(WorkerPool.ask(pool, request as Spin, { timeout: "10 seconds" })),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(exits.map((e) => e._tag), ["WorkerCrashed", "PoolUnavailable", "PoolUnavailable"])
    })))

  it.live("a handler module that fails to load: make fails with WorkerSpawnFailed and leaves no thread", () =>
    Effect.gen(function*() {
      yield* warmUp
      const baseline = osThreads()
      const broken = yield* Effect.flip(Effect.scoped(
        WorkerPool.make(Protocol, { handler: new URL("./fixtures/broken-handler.ts", import.meta.url), minSize: 2, maxSize: 2 })
      ))
      assert.instanceOf(broken, WorkerError.WorkerSpawnFailed)
      assert.include(broken.message, "the extraction rules file is missing")
      const notAHandler = yield* Effect.flip(Effect.scoped(
        WorkerPool.make(Protocol, { handler: new URL("./fixtures/not-a-handler.ts", import.meta.url), minSize: 1 })
      ))
      assert.include(notAHandler.message, "does not export a WorkerHandler")
      const missing = yield* Effect.flip(Effect.scoped(
        WorkerPool.make(Protocol, { handler: new URL("./fixtures/no-such-file.ts", import.meta.url), minSize: 1 })
      ))
      assert.instanceOf(missing, WorkerError.WorkerSpawnFailed)
      assert.strictEqual(osThreads(), baseline)
    }))
})
