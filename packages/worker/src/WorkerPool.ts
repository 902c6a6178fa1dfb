/**
 * Worker-backed CPU actors: a pool of `worker_threads`, each running a handler
 * module, behind a bounded queue, asked like a local actor.
 *
 * - `ask` encodes the request through the protocol's schema (transferables are
 *   moved), waits for a worker, and decodes the reply; every failure is typed.
 * - A thread that dies mid-task fails that task with `WorkerCrashed` (or re-runs
 *   it once on a fresh thread, `retry: "once"`) and is replaced; too many
 *   crashes in a window open a breaker (`PoolUnavailable`) instead of
 *   respawning forever.
 * - A task past its deadline gets `TaskTimeout` and its thread is terminated
 *   and replaced. An interrupted ask leaves the queue, or, if running, gets a
 *   grace period before its thread is terminated.
 * - Workers are recycled after `maxTasksPerWorker` tasks or above
 *   `maxHeapUsedBytes`; idle ones above `minSize` stop after `idleTimeout`.
 * - Closing the pool's Scope drains (or interrupts) and terminates every thread.
 *
 * Timeouts here are wall-clock timers (they guard real threads), so they do
 * not follow `TestClock`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { existsSync } from "node:fs"
import { availableParallelism } from "node:os"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { ResourceLimits, Transferable } from "node:worker_threads"
import { ActorError } from "@trawl/actor"
import * as WorkerError from "./WorkerError.ts"
import type * as WorkerProtocol from "./WorkerProtocol.ts"
import { type Codec, compile } from "./internal/codec.ts"
import * as metrics from "./internal/metrics.ts"
import { Pool, type ResolvedOptions, type Stats as PoolStats, type Task } from "./internal/pool.ts"

/**
 * The brand of a `WorkerPool` value (a global symbol, shared by every copy of the package).
 *
 * @example
 * ```ts
 * import { WorkerPool } from "@trawl/worker"
 * const branded = (u: object) => WorkerPool.TypeId in u
 * ```
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@trawl/worker/WorkerPool") as never

/**
 * A running pool of worker threads speaking protocol `W`.
 *
 * @since 0.1.0
 */
export interface WorkerPool<W extends WorkerProtocol.Any> {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly protocol: W
}

/**
 * Options of `make`. Only `handler` is required.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The handler module (URL or absolute path): it default-exports `WorkerHandler.make(...)`. `.ts` works on Node 24. */
  readonly handler: URL | string
  /** Used in errors, logs, thread names and the `pool` metric attribute. Default `"worker-pool"`. */
  readonly name?: string | undefined
  /** Threads kept even when idle (started by `make`, which waits until they are ready). Default 1. */
  readonly minSize?: number | undefined
  /** Most threads at once. Default: `os.availableParallelism()`. */
  readonly maxSize?: number | undefined
  /**
   * Tasks sent ahead to one worker: it runs one at a time, and the next ones
   * wait in its inbox, so it never idles while this thread handles a reply.
   * Tasks that had not started when their worker died or was terminated go
   * back to the queue. Refills go out in batches (one message for several
   * tasks) once half the window is free. Default 4; 1 gives the strictest
   * load balance (a long task never has others waiting behind it).
   */
  readonly prefetch?: number | undefined
  /** Tasks that may wait for a worker. Default 1024. */
  readonly queueCapacity?: number | undefined
  /** With a full queue: `backpressure` (the caller waits for room; default) or `fail` (`PoolSaturated` at once). */
  readonly overflow?: "backpressure" | "fail" | undefined
  /** An idle thread above `minSize` stops after this long. Default 30 seconds; `Infinity` keeps them. */
  readonly idleTimeout?: Duration.Input | undefined
  /** Hard limit on one task's run time (not counting queue wait): past it, `TaskTimeout` and the thread is terminated. Default 60 seconds. */
  readonly taskDeadline?: Duration.Input | undefined
  /** After an ask is interrupted (or times out) mid-run, how long its thread may finish before it is terminated. Default 1 second. */
  readonly interruptGrace?: Duration.Input | undefined
  /** How long a `tell` waits for room under `backpressure` before `PoolSaturated`. Default 30 seconds. */
  readonly enqueueTimeout?: Duration.Input | undefined
  /** When a thread dies mid-task: `never` (`WorkerCrashed`; default) or `once` (re-run once on a fresh thread, unless the request transferred buffers). */
  readonly retry?: "never" | "once" | undefined
  /** The crash-loop breaker: `maxCrashes` within `window` opens it for `cooldown`. Default 5 within 10 s, 5 s cooldown. */
  readonly crashLoop?: {
    readonly maxCrashes?: number | undefined
    readonly window?: Duration.Input | undefined
    readonly cooldown?: Duration.Input | undefined
  } | undefined
  /** Replace a worker after this many tasks. Default: never. */
  readonly maxTasksPerWorker?: number | undefined
  /** Replace a worker holding more than this many bytes after a task (V8 heap + ArrayBuffers outside it). Default: never. */
  readonly maxHeapUsedBytes?: number | undefined
  /** Passed to every `new Worker(...)`: heap and stack limits (a thread over them dies with `ERR_WORKER_OUT_OF_MEMORY`). */
  readonly resourceLimits?: ResourceLimits | undefined
  /** On Scope close: `drain` (finish queued and running tasks first, up to `drainTimeout`; default) or `interrupt`. */
  readonly shutdown?: "drain" | "interrupt" | undefined
  /** Longest drain at Scope close. Default 30 seconds. */
  readonly drainTimeout?: Duration.Input | undefined
  /** How long `make` waits for the first `minSize` threads to be ready. Default 30 seconds. */
  readonly startupTimeout?: Duration.Input | undefined
}

/**
 * Options of `ask`. The timeout is mandatory, as for local actors: it covers
 * the wait for room, for a worker and for the run.
 *
 * @since 0.1.0
 */
export interface AskOptions {
  readonly timeout: Duration.Input
  /** This task's run-time deadline, instead of the pool's `taskDeadline`. */
  readonly deadline?: Duration.Input | undefined
  /** This task's crash policy, instead of the pool's `retry`. */
  readonly retry?: "never" | "once" | undefined
}

/**
 * Options of `tell`.
 *
 * @since 0.1.0
 */
export interface TellOptions {
  /** This task's run-time deadline, instead of the pool's `taskDeadline`. */
  readonly deadline?: Duration.Input | undefined
  /** This task's crash policy, instead of the pool's `retry`. */
  readonly retry?: "never" | "once" | undefined
}

/**
 * A snapshot of a pool's state.
 *
 * @since 0.1.0
 */
export interface Stats extends PoolStats {}

interface PoolImpl<W extends WorkerProtocol.Any> extends WorkerPool<W> {
  readonly pool: Pool
  readonly codecs: Map<string, Codec>
}

const implOf = <W extends WorkerProtocol.Any>(self: WorkerPool<W>): PoolImpl<W> => self as PoolImpl<W>

// ---- options -----------------------------------------------------------------

const millis = (option: string, input: Duration.Input | undefined, fallback: number): Effect.Effect<number, ActorError.InvalidOptions> => {
  if (input === undefined) return Effect.succeed(fallback)
  if (input === Infinity) return Effect.succeed(Infinity)
  const decoded = Duration.fromInput(input)
  return Option.isSome(decoded) && !Duration.isNegative(decoded.value)
    ? Effect.succeed(Duration.toMillis(decoded.value))
    : Effect.fail(new ActorError.InvalidOptions({ option, reason: `must be a non-negative duration, got ${String(input)}` }))
}

const count = (
  option: string,
  input: number | undefined,
  fallback: number,
  min: number
): Effect.Effect<number, ActorError.InvalidOptions> => {
  if (input === undefined) return Effect.succeed(fallback)
  return (Number.isInteger(input) && input >= min) || input === Infinity
    ? Effect.succeed(input)
    : Effect.fail(new ActorError.InvalidOptions({ option, reason: `must be an integer ≥ ${min}, got ${input}` }))
}

const oneOf = <const A extends string>(option: string, input: A | undefined, values: ReadonlyArray<A>): Effect.Effect<A, ActorError.InvalidOptions> =>
  input === undefined
    ? Effect.succeed(values[0]!)
    : values.includes(input)
    ? Effect.succeed(input)
    : Effect.fail(new ActorError.InvalidOptions({ option, reason: `must be one of ${values.join(", ")}, got ${String(input)}` }))

/**
 * The runner module of the pool threads: `internal/runner.ts` next to this
 * file when running from source, `internal/runner.js` from the built `dist`.
 */
const runnerUrl = (): URL => {
  const ts = new URL("./internal/runner.ts", import.meta.url)
  return existsSync(fileURLToPath(ts)) ? ts : new URL("./internal/runner.js", import.meta.url)
}

const handlerUrl = (handler: URL | string): string =>
  handler instanceof URL ? handler.href : handler.startsWith("file:") ? handler : pathToFileURL(handler).href

const resolve = (options: Options): Effect.Effect<ResolvedOptions, ActorError.InvalidOptions> =>
  Effect.gen(function*() {
    const maxSize = yield* count("maxSize", options.maxSize, availableParallelism(), 1)
    const minSize = yield* count("minSize", options.minSize, Math.min(1, maxSize), 0)
    if (minSize > maxSize) {
      return yield* new ActorError.InvalidOptions({ option: "minSize", reason: `must not exceed maxSize (${minSize} > ${maxSize})` })
    }
    return {
      name: options.name ?? "worker-pool",
      runner: runnerUrl(),
      handler: handlerUrl(options.handler),
      minSize,
      maxSize,
      queueCapacity: yield* count("queueCapacity", options.queueCapacity, 1024, 0),
      overflow: yield* oneOf("overflow", options.overflow, ["backpressure", "fail"]),
      idleTimeoutMillis: yield* millis("idleTimeout", options.idleTimeout, 30_000),
      taskDeadlineMillis: yield* millis("taskDeadline", options.taskDeadline, 60_000),
      interruptGraceMillis: yield* millis("interruptGrace", options.interruptGrace, 1_000),
      enqueueTimeoutMillis: yield* millis("enqueueTimeout", options.enqueueTimeout, 30_000),
      retry: yield* oneOf("retry", options.retry, ["never", "once"]),
      maxCrashes: yield* count("crashLoop.maxCrashes", options.crashLoop?.maxCrashes, 5, 1),
      crashWindowMillis: yield* millis("crashLoop.window", options.crashLoop?.window, 10_000),
      breakerCooldownMillis: yield* millis("crashLoop.cooldown", options.crashLoop?.cooldown, 5_000),
      maxTasksPerWorker: yield* count("maxTasksPerWorker", options.maxTasksPerWorker, Infinity, 1),
      maxHeapUsedBytes: yield* count("maxHeapUsedBytes", options.maxHeapUsedBytes, Infinity, 1),
      prefetch: yield* count("prefetch", options.prefetch, 4, 1),
      resourceLimits: options.resourceLimits,
      shutdown: yield* oneOf("shutdown", options.shutdown, ["drain", "interrupt"]),
      drainTimeoutMillis: yield* millis("drainTimeout", options.drainTimeout, 30_000)
    }
  })

// ---- constructors -------------------------------------------------------------

/**
 * Starts a pool in the current Scope and waits until its first `minSize`
 * threads are ready. Closing the Scope shuts it down (see `Options.shutdown`)
 * and waits until no thread of it is left.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { WorkerPool } from "@trawl/worker"
 * import { Digest, Protocol } from "./protocol.ts"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const pool = yield* WorkerPool.make(Protocol, {
 *     handler: new URL("./digest-handler.ts", import.meta.url),
 *     maxSize: 2,
 *     taskDeadline: "5 seconds"
 *   })
 *   return yield* WorkerPool.ask(pool, new Digest({ text: "hello" }), { timeout: "10 seconds" })
 * }))
 * ```
 * @since 0.1.0
 */
export const make = <W extends WorkerProtocol.Any>(
  protocol: W,
  options: Options
): Effect.Effect<WorkerPool<W>, ActorError.InvalidOptions | WorkerError.WorkerSpawnFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const startupMillis = yield* millis("startupTimeout", options.startupTimeout, 30_000)
    const context = yield* Effect.context<never>()
    const pool = new Pool(resolved, metrics.make(resolved.name, context), context)
    const shutdown = (mode: "drain" | "interrupt") =>
      Effect.callback<void>((resume) => pool.shutdown(mode, () => resume(Effect.void)))
    yield* Effect.addFinalizer(() => shutdown(resolved.shutdown))
    yield* Effect.callback<void, WorkerError.WorkerSpawnFailed>((resume) => {
      const cancel = pool.start((error) => resume(error === undefined ? Effect.void : Effect.fail(error)), startupMillis)
      return Effect.sync(cancel)
    }).pipe(Effect.tapError(() => shutdown("interrupt")))
    const impl: PoolImpl<W> = { [TypeId]: TypeId, name: resolved.name, protocol, pool, codecs: compile(protocol) }
    return impl as WorkerPool<W>
  })

// ---- ask and tell -------------------------------------------------------------

const prepare = <W extends WorkerProtocol.Any>(
  impl: PoolImpl<W>,
  request: unknown
): { readonly codec: Codec; readonly payload: unknown; readonly transfer: ReadonlyArray<Transferable> } | WorkerError.InvalidRequest => {
  const tag = (request as { readonly _tag?: unknown } | null)?._tag
  const codec = typeof tag === "string" ? impl.codecs.get(tag) : undefined
  if (codec === undefined) {
    return new WorkerError.InvalidRequest({ pool: impl.name, task: String(tag), reason: `unknown request tag ${String(tag)}` })
  }
  const encoded = codec.encodeRequest(request)
  if (encoded._tag === "Err") return new WorkerError.InvalidRequest({ pool: impl.name, task: codec.tag, reason: encoded.reason })
  return { codec, payload: encoded.value, transfer: encoded.transfer }
}

const optionalMillis = (option: string, input: Duration.Input | undefined) =>
  input === undefined ? Effect.succeed(undefined) : millis(option, input, 0)

/** Asks repeat the same few timeout strings ("30 seconds"): parse each once. */
const parsedTimeouts = new Map<string, number>()
const toMillisCached = (input: Duration.Input): number => {
  if (typeof input !== "string") {
    const decoded = Duration.fromInput(input)
    return Option.isSome(decoded) ? Duration.toMillis(decoded.value) : NaN
  }
  let millis = parsedTimeouts.get(input)
  if (millis === undefined) {
    const decoded = Duration.fromInput(input)
    millis = Option.isSome(decoded) ? Duration.toMillis(decoded.value) : NaN
    if (parsedTimeouts.size < 256) parsedTimeouts.set(input, millis)
  }
  return millis
}

/**
 * Sends a request to the pool and waits for the schema-decoded reply: the
 * handler's success, its typed error, a pool failure (`WorkerCrashed`,
 * `TaskTimeout`, `PoolSaturated`, `PoolUnavailable`, `InvalidRequest`,
 * `InvalidResponse`, `TaskDefect`), `AskTimeout` when no reply came within
 * `timeout`, or `ActorStopped` when the pool is closed.
 *
 * Interrupting the asking fiber removes a queued task; a running one gets
 * `interruptGrace` to finish before its thread is terminated.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { WorkerPool } from "@trawl/worker"
 * import { Digest, type Protocol } from "./protocol.ts"
 *
 * declare const pool: WorkerPool.WorkerPool<typeof Protocol>
 * const digest = WorkerPool.ask(pool, new Digest({ text: "hi" }), { timeout: "5 seconds" })
 * const dataLast = WorkerPool.ask(new Digest({ text: "hi" }), { timeout: "5 seconds" })(pool)
 * ```
 * @since 0.1.0
 */
export const ask: {
  <W extends WorkerProtocol.Any, R extends WorkerProtocol.Request<W>>(
    request: R,
    options: AskOptions
  ): (
    self: WorkerPool<W>
  ) => Effect.Effect<
    WorkerProtocol.Success<W, R>,
    WorkerProtocol.Failure<W, R> | WorkerError.WorkerError | ActorError.AskTimeout | ActorError.ActorStopped | ActorError.InvalidOptions
  >
  <W extends WorkerProtocol.Any, R extends WorkerProtocol.Request<W>>(
    self: WorkerPool<W>,
    request: R,
    options: AskOptions
  ): Effect.Effect<
    WorkerProtocol.Success<W, R>,
    WorkerProtocol.Failure<W, R> | WorkerError.WorkerError | ActorError.AskTimeout | ActorError.ActorStopped | ActorError.InvalidOptions
  >
} = dual(3, <W extends WorkerProtocol.Any>(self: WorkerPool<W>, request: unknown, options: AskOptions) => {
  const submit = (deadline: number | undefined) =>
    // one primitive per ask: encoding, admission and the timeout all happen in the register callback
    Effect.callback<any, any>((resume) => {
      const impl = implOf(self)
      const timeoutMillis = typeof options.timeout === "number" ? options.timeout : toMillisCached(options.timeout)
      if (!(timeoutMillis >= 0)) {
        return resume(Effect.fail(new ActorError.InvalidOptions({ option: "timeout", reason: `must be a non-negative duration, got ${String(options.timeout)}` })))
      }
      const prepared = prepare(impl, request)
      if (prepared instanceof WorkerError.InvalidRequest) return resume(Effect.fail(prepared))
      const task = impl.pool.submit(prepared.codec, prepared.payload, prepared.transfer, deadline, options.retry, timeoutMillis, resume)
      if (task === undefined) return
      return Effect.sync(() => impl.pool.cancel(task))
    })
  return options.deadline === undefined ? submit(undefined) : Effect.flatMap(millis("deadline", options.deadline, 0), submit)
})

/**
 * Sends a request without waiting for its result: succeeds once the task is
 * in the queue (under `backpressure`, after waiting for room up to
 * `enqueueTimeout`). The task's failure, if any, is logged.
 *
 * @example
 * ```ts
 * import { WorkerPool } from "@trawl/worker"
 * import { Digest, type Protocol } from "./protocol.ts"
 *
 * declare const pool: WorkerPool.WorkerPool<typeof Protocol>
 * const program = WorkerPool.tell(pool, new Digest({ text: "warm-up" }))
 * ```
 * @since 0.1.0
 */
export const tell: {
  <W extends WorkerProtocol.Any, R extends WorkerProtocol.Request<W>>(
    request: R,
    options?: TellOptions
  ): (
    self: WorkerPool<W>
  ) => Effect.Effect<void, WorkerError.PoolSaturated | WorkerError.PoolUnavailable | WorkerError.InvalidRequest | ActorError.ActorStopped | ActorError.InvalidOptions>
  <W extends WorkerProtocol.Any, R extends WorkerProtocol.Request<W>>(
    self: WorkerPool<W>,
    request: R,
    options?: TellOptions
  ): Effect.Effect<void, WorkerError.PoolSaturated | WorkerError.PoolUnavailable | WorkerError.InvalidRequest | ActorError.ActorStopped | ActorError.InvalidOptions>
} = dual((args) => args.length >= 2 && isWorkerPool(args[0]), <W extends WorkerProtocol.Any>(
  self: WorkerPool<W>,
  request: unknown,
  options?: TellOptions
) =>
  Effect.suspend(() => {
    const impl = implOf(self)
    const prepared = prepare(impl, request)
    if (prepared instanceof WorkerError.InvalidRequest) return Effect.fail(prepared)
    return Effect.flatMap(optionalMillis("deadline", options?.deadline), (deadline) =>
      Effect.callback<void, any>((resume) => {
        let accepted = false
        let timer: ReturnType<typeof setTimeout> | undefined
        const accept = () => {
          if (accepted) return
          accepted = true
          clearTimeout(timer)
          resume(Effect.void)
        }
        const task = impl.pool.submit(prepared.codec, prepared.payload, prepared.transfer, deadline, options?.retry, Infinity, (outcome) => {
          if (!accepted) {
            // settled before it was accepted: refused (closed, breaker open, saturated)
            accepted = true
            clearTimeout(timer)
            resume(Effect.asVoid(outcome))
            return
          }
          impl.pool.reportUnwatched(prepared.codec.tag, outcome)
        }, accept)
        if (task === undefined || accepted) return
        if (!isBlocked(impl, task)) return accept()
        const enqueueMillis = impl.pool.options.enqueueTimeoutMillis
        if (Number.isFinite(enqueueMillis)) {
          timer = setTimeout(() => {
            if (accepted) return
            accepted = true
            impl.pool.cancel(task)
            resume(Effect.fail(new WorkerError.PoolSaturated({ pool: impl.name, capacity: impl.pool.options.queueCapacity })))
          }, enqueueMillis)
        }
        return Effect.sync(() => {
          if (accepted) return
          accepted = true
          clearTimeout(timer)
          impl.pool.cancel(task)
        })
      }))
  }))

const isBlocked = (impl: PoolImpl<any>, task: Task): boolean => impl.pool.isBlocked(task)

// ---- inspection ------------------------------------------------------------------

/**
 * Is this value a `WorkerPool`?
 *
 * @example
 * ```ts
 * import { WorkerPool } from "@trawl/worker"
 * WorkerPool.isWorkerPool({}) // false
 * ```
 * @since 0.1.0
 */
export const isWorkerPool = (u: unknown): u is WorkerPool<WorkerProtocol.Any> =>
  typeof u === "object" && u !== null && (u as any)[TypeId] === TypeId

/**
 * A snapshot of the pool: threads (starting, idle, busy), queue, breaker,
 * and counts of crashes, recycles, timeouts and completed tasks.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { WorkerPool } from "@trawl/worker"
 *
 * declare const pool: WorkerPool.WorkerPool<any>
 * const program = Effect.map(WorkerPool.stats(pool), (stats) => stats.busy / Math.max(1, stats.threads))
 * ```
 * @since 0.1.0
 */
export const stats = <W extends WorkerProtocol.Any>(self: WorkerPool<W>): Effect.Effect<Stats> =>
  Effect.sync(() => implOf(self).pool.stats())

// ---- configuration -------------------------------------------------------------

/**
 * Pool sizing and limits read through Effect `Config` (environment variables
 * by default): `MIN_SIZE`, `MAX_SIZE`, `QUEUE_CAPACITY`, `TASK_DEADLINE`,
 * `IDLE_TIMEOUT`, `MAX_TASKS_PER_WORKER`. Unset ones keep the defaults.
 * Nest it to prefix the names (`Config.nested(WorkerPool.config, "EXTRACT_POOL")`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { WorkerPool } from "@trawl/worker"
 * import { Protocol } from "./protocol.ts"
 *
 * const program = Effect.gen(function*() {
 *   const sizing = yield* WorkerPool.config
 *   return yield* WorkerPool.make(Protocol, { ...sizing, handler: new URL("./digest-handler.ts", import.meta.url) })
 * })
 * ```
 * @since 0.1.0
 */
export const config: Config.Config<Partial<Options>> = Config.all<Record<string, Config.Config<Option.Option<unknown>>>>({
  minSize: Config.option(Config.Int("MIN_SIZE")),
  maxSize: Config.option(Config.Int("MAX_SIZE")),
  queueCapacity: Config.option(Config.Int("QUEUE_CAPACITY")),
  taskDeadline: Config.option(Config.Duration("TASK_DEADLINE")),
  idleTimeout: Config.option(Config.Duration("IDLE_TIMEOUT")),
  maxTasksPerWorker: Config.option(Config.Int("MAX_TASKS_PER_WORKER"))
}).pipe(Config.map((values) => {
  const options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) if (Option.isSome(value)) options[key] = value.value
  return options as Partial<Options>
}))
