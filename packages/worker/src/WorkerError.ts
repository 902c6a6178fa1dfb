/**
 * Typed failures of worker pools: what an `ask` or `tell` on a pool can get
 * back besides the handler's own typed error.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The thread running the task died (uncaught exception, `process.exit`, out
 * of memory under `resourceLimits`, terminated from outside) before replying.
 * `exitCode` is the thread's exit code; `task` the request's `_tag`;
 * `retried` tells whether this was already the second attempt.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.WorkerCrashed({ pool: "extract", task: "Extract", exitCode: 1, retried: false, reason: "out of memory" })
 * error.message // "worker of extract crashed (exit code 1) while running Extract: out of memory"
 * ```
 * @since 0.1.0
 */
export class WorkerCrashed extends Data.TaggedError("WorkerCrashed")<{
  readonly pool: string
  readonly task: string
  readonly exitCode: number
  readonly retried: boolean
  readonly reason: string
}> {
  override get message(): string {
    return `worker of ${this.pool} crashed (exit code ${this.exitCode}) while running ${this.task}${
      this.retried ? " (second attempt)" : ""
    }${this.reason === "" ? "" : `: ${this.reason}`}`
  }
}

/**
 * The task ran past its hard deadline: its thread was terminated and replaced.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.TaskTimeout({ pool: "extract", task: "Extract", deadlineMillis: 5000 })
 * ```
 * @since 0.1.0
 */
export class TaskTimeout extends Data.TaggedError("TaskTimeout")<{
  readonly pool: string
  readonly task: string
  readonly deadlineMillis: number
}> {
  override get message(): string {
    return `${this.task} on ${this.pool} ran past its deadline of ${this.deadlineMillis} ms; its thread was terminated`
  }
}

/**
 * The pool's queue is full: under the `fail` overflow policy at once, under
 * `backpressure` after a `tell` waited `enqueueTimeout` for room.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.PoolSaturated({ pool: "extract", capacity: 64 })
 * ```
 * @since 0.1.0
 */
export class PoolSaturated extends Data.TaggedError("PoolSaturated")<{
  readonly pool: string
  readonly capacity: number
}> {
  override get message(): string {
    return `queue of ${this.pool} is full (capacity ${this.capacity})`
  }
}

/**
 * The pool's crash-loop breaker is open: its workers crashed too often, so it
 * fails tasks fast instead of respawning threads forever. It closes again
 * after a cooldown once a fresh worker succeeds.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.PoolUnavailable({ pool: "extract", crashes: 5, withinMillis: 10000, lastError: "exit code 1" })
 * ```
 * @since 0.1.0
 */
export class PoolUnavailable extends Data.TaggedError("PoolUnavailable")<{
  readonly pool: string
  readonly crashes: number
  readonly withinMillis: number
  readonly lastError: string
}> {
  override get message(): string {
    return `${this.pool} is unavailable: ${this.crashes} worker crashes within ${this.withinMillis} ms (last: ${this.lastError})`
  }
}

/**
 * The request does not match the protocol: unknown `_tag`, a value its schema
 * cannot encode (caller side) or decode (worker side), or a payload that
 * cannot cross the thread boundary.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.InvalidRequest({ pool: "extract", task: "Extract", reason: "Expected number, got \"x\"" })
 * ```
 * @since 0.1.0
 */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<{
  readonly pool: string
  readonly task: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid ${this.task} request for ${this.pool}: ${this.reason}`
  }
}

/**
 * The handler's reply does not match the protocol's success or error schema
 * (the worker could not encode it, or the caller could not decode it).
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.InvalidResponse({ pool: "extract", task: "Extract", reason: "Expected string, got 1" })
 * ```
 * @since 0.1.0
 */
export class InvalidResponse extends Data.TaggedError("InvalidResponse")<{
  readonly pool: string
  readonly task: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid ${this.task} response from ${this.pool}: ${this.reason}`
  }
}

/**
 * The handler threw or died (an untyped failure); the worker survived it.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.TaskDefect({ pool: "extract", task: "Extract", reason: "TypeError: x is undefined" })
 * ```
 * @since 0.1.0
 */
export class TaskDefect extends Data.TaggedError("TaskDefect")<{
  readonly pool: string
  readonly task: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.task} on ${this.pool} died: ${this.reason}`
  }
}

/**
 * A worker thread could not start: the handler module failed to load, or the
 * pool's first workers did not report ready within `startupTimeout`.
 *
 * @example
 * ```ts
 * import { WorkerError } from "@trawl/worker"
 * const error = new WorkerError.WorkerSpawnFailed({ pool: "extract", reason: "Cannot find module './handler.ts'" })
 * ```
 * @since 0.1.0
 */
export class WorkerSpawnFailed extends Data.TaggedError("WorkerSpawnFailed")<{
  readonly pool: string
  readonly reason: string
}> {
  override get message(): string {
    return `a worker of ${this.pool} failed to start: ${this.reason}`
  }
}

/**
 * Any failure a task can meet in a pool (besides the handler's own typed
 * error, the caller's `AskTimeout` and `ActorStopped` when the pool is closed).
 *
 * @since 0.1.0
 */
export type WorkerError =
  | WorkerCrashed
  | TaskTimeout
  | PoolSaturated
  | PoolUnavailable
  | InvalidRequest
  | InvalidResponse
  | TaskDefect
