/**
 * Test helpers: the fixture handler's URL and an OS-level count of this
 * process's threads (each worker thread is one), so "no thread outlives the
 * pool" is checked by the kernel, not by the pool's own bookkeeping.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { readFileSync } from "node:fs"
import { readFile } from "node:fs/promises"

export const handler = new URL("./fixtures/handler.ts", import.meta.url)

/** Threads of this process, from /proc/self/status. */
export const osThreads = (): number => Number(/Threads:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1])

/** Starts libuv's thread pool (lazily created on first fs call), so it does not move the baseline mid-test. */
export const warmUp = Effect.promise(() => readFile(new URL(import.meta.url)))

/** Retries `check` every 20 ms for up to `millis`, then fails with its last error. */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, millis = 3000): Effect.Effect<A, E, R> =>
  Effect.retry(check, Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: `${millis} millis` })))

/** Fails unless `condition` holds (for use inside `eventually`). */
export const expect = (condition: boolean, message: string): Effect.Effect<void, Error> =>
  condition ? Effect.void : Effect.fail(new Error(message))
