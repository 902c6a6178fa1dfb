/**
 * Supervisors restart failed actors, Erlang/OTP style.
 *
 * - **Strategy**: `oneForOne` restarts the failed child only; `oneForAll`
 *   restarts every child; `restForOne` restarts the failed child and the
 *   children started after it.
 * - **Restart type** per child: `permanent` (always restarted, even after it
 *   stops itself), `transient` (restarted only after a failure), `temporary`
 *   (never restarted).
 * - **Intensity**: at most `maxRestarts` restarts `within` a window; one more
 *   and the supervisor gives up: it fails with `RestartIntensityExceeded`,
 *   which escalates to its parent supervisor (or stops it and its children
 *   when it has none).
 * - **Backoff**: the delay before each restart comes from an Effect
 *   `Schedule` (default exponential from 10 ms, jittered), stepped once per
 *   consecutive restart of a child.
 *
 * A restarted child keeps its mailbox (and its `ActorRef`); the message whose
 * processing failed is not retried unless the behaviour sets
 * `redeliverOnRestart`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Actor from "./Actor.ts"
import { ActorStopped, InvalidOptions, RestartIntensityExceeded } from "./ActorError.ts"
import { summarize } from "./internal/cause.ts"
import type { Behavior } from "./Behavior.ts"
import type { Cell, Parent } from "./internal/cell.ts"
import * as Durations from "./internal/duration.ts"
import * as metrics from "./internal/metrics.ts"

/**
 * Which children a failure restarts.
 *
 * @since 0.1.0
 */
export type Strategy = "oneForOne" | "oneForAll" | "restForOne"

/**
 * When a child is restarted.
 *
 * @since 0.1.0
 */
export type RestartType = "permanent" | "transient" | "temporary"

/**
 * Options of a supervisor.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Name in logs, errors and `Terminated`. */
  readonly name?: string | undefined
  /** Default `oneForOne`. */
  readonly strategy?: Strategy | undefined
  /** Restarts allowed within `within`; a non-negative integer. Default 3. */
  readonly maxRestarts?: number | undefined
  /** The intensity window. Default 5 seconds. */
  readonly within?: Duration.Input | undefined
  /** Delays between restarts of a child. Default exponential from 10 ms, jittered. */
  readonly backoff?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Options of a supervised child: its mailbox and its restart type (default `permanent`).
 *
 * @since 0.1.0
 */
export interface ChildOptions extends Actor.SpawnOptions {
  readonly restart?: RestartType | undefined
}

const TypeId = "~@trawl/actor/Supervisor" as const

/**
 * A running supervisor. Watch or await `ref` to learn when (and why) it stops.
 *
 * @since 0.1.0
 */
export interface Supervisor {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly ref: Actor.ActorRef<never>
}

interface Child {
  readonly restart: RestartType
  readonly cell: Cell<any, any, any, any>
  readonly suspend: Effect.Effect<void>
  readonly restartChild: Effect.Effect<void, unknown>
  readonly terminate: (exit: Exit.Exit<void, unknown>) => Effect.Effect<void>
  step: ((now: number, input: unknown) => Effect.Effect<[unknown, Duration.Duration], unknown>) | undefined
  lastRestart: number
}

interface ChildExited {
  readonly cell: Cell<any, any, any, any>
  readonly exit: Exit.Exit<void, unknown>
  readonly selfStopped: boolean
}

class SupervisorImpl implements Supervisor, Parent {
  readonly [TypeId] = TypeId
  readonly name: string
  readonly strategy: Strategy
  readonly maxRestarts: number
  readonly within: Duration.Duration
  readonly backoff: Schedule.Schedule<unknown, unknown>
  readonly lifetime: Scope.Closeable
  children: Array<Child> = []
  restartTimes: Array<number> = []
  control: Cell<ChildExited, void, RestartIntensityExceeded, never> = undefined as never

  constructor(
    name: string,
    strategy: Strategy,
    maxRestarts: number,
    within: Duration.Duration,
    backoff: Schedule.Schedule<unknown, unknown>,
    lifetime: Scope.Closeable
  ) {
    this.name = name
    this.strategy = strategy
    this.maxRestarts = maxRestarts
    this.within = within
    this.backoff = backoff
    this.lifetime = lifetime
  }

  get ref(): Actor.ActorRef<never> {
    return this.control as unknown as Actor.ActorRef<never>
  }

  childExited(cell: Cell<any, any, any, any>, exit: Exit.Exit<void, unknown>, selfStopped: boolean): Effect.Effect<void> {
    return Effect.catch(
      this.control.tell({ cell, exit, selfStopped }),
      () => cell.close(exit)
    )
  }

  add(child: Child): void {
    this.children.push(child)
    child.cell.addWatcher(() => {
      const index = this.children.indexOf(child)
      if (index >= 0) this.children.splice(index, 1)
    })
  }

  readonly handle = (event: ChildExited): Effect.Effect<void, RestartIntensityExceeded> => {
    const self = this
    return Effect.gen(function*() {
      const child = self.children.find((c) => c.cell === event.cell)
      if (child === undefined) return
      const failed = Exit.isFailure(event.exit)
      const restart = child.restart === "permanent" || (child.restart === "transient" && failed)
      if (!restart) {
        return yield* child.terminate(event.exit)
      }
      const now = yield* Clock.currentTimeMillis
      const windowMillis = Duration.toMillis(self.within)
      self.restartTimes = self.restartTimes.filter((t) => now - t < windowMillis)
      self.restartTimes.push(now)
      const cause: Cause.Cause<unknown> = Exit.isFailure(event.exit) ? event.exit.cause : Cause.empty
      const annotations = { supervisor: self.name, actor: event.cell.name }
      const giveUp = Effect.suspend(() => {
        const error = new RestartIntensityExceeded({
          supervisor: self.name,
          restarts: self.restartTimes.length,
          withinMillis: windowMillis,
          child: event.cell.name,
          cause
        })
        return Effect.andThen(
          Effect.annotateLogs(Effect.logError(error.message, cause), annotations),
          Effect.fail(error)
        )
      })
      if (self.restartTimes.length > self.maxRestarts) return yield* giveUp
      const index = self.children.indexOf(child)
      const affected = self.strategy === "oneForOne"
        ? [child]
        : self.strategy === "oneForAll"
        ? [...self.children]
        : self.children.slice(index)
      for (let i = affected.length - 1; i >= 0; i--) yield* affected[i]!.suspend
      const delay = yield* self.nextDelay(child, now)
      if (delay === undefined) return yield* giveUp
      yield* Effect.annotateLogs(
        Effect.logWarning(
          `supervisor "${self.name}" restarts actor "${event.cell.name}" ` +
            `(${failed ? `died: ${summarize(cause)}` : "stopped itself"}): ` +
            `restart ${self.restartTimes.length} of ${self.maxRestarts} within ${windowMillis} ms, ` +
            `in ${Duration.toMillis(delay)} ms` +
            (affected.length > 1 ? ` with ${affected.length - 1} sibling(s) (${self.strategy})` : ""),
          cause
        ),
        { ...annotations, restarts: self.restartTimes.length, delayMillis: Duration.toMillis(delay) }
      )
      if (Duration.isPositive(delay)) yield* Effect.sleep(delay)
      for (const c of affected) {
        const restarted = yield* Effect.exit(c.restartChild)
        if (Exit.isFailure(restarted)) {
          // a failing init counts as another failure of that child
          yield* Effect.ignore(self.control.tell({ cell: c.cell, exit: restarted as Exit.Exit<never, unknown>, selfStopped: false }))
        }
      }
      metrics.restarts.updateUnsafe(affected.length, self.control.context)
    })
  }

  private nextDelay(child: Child, now: number): Effect.Effect<Duration.Duration | undefined> {
    const self = this
    return Effect.gen(function*() {
      if (child.step === undefined || now - child.lastRestart >= Duration.toMillis(self.within)) {
        child.step = (yield* Schedule.toStep(self.backoff)) as Child["step"]
      }
      child.lastRestart = now
      const step = yield* Effect.exit(child.step!(now, undefined))
      return Exit.isSuccess(step) ? step.value[1] : undefined
    })
  }

  /** Suspends every child (last started first). */
  readonly suspendAll: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach([...this.children].reverse(), (c) => c.suspend, { discard: true })
  )

  /** Restarts the supervisor as a whole: its control and every child, with fresh intensity. */
  readonly restartAll: Effect.Effect<void, unknown> = Effect.suspend(() => {
    this.restartTimes = []
    return Effect.andThen(
      Effect.andThen(this.suspendAll, this.control.restart()),
      Effect.forEach([...this.children], (c) => c.restartChild, { discard: true })
    )
  })
}

const validate = (options: Options | undefined) =>
  Effect.gen(function*() {
    const maxRestarts = options?.maxRestarts ?? 3
    if (!Number.isSafeInteger(maxRestarts) || maxRestarts < 0) {
      return yield* Effect.fail(new InvalidOptions({ option: "maxRestarts", reason: `must be a non-negative integer, got ${maxRestarts}` }))
    }
    const within = yield* Durations.validate("within", options?.within ?? "5 seconds")
    const strategy = options?.strategy ?? "oneForOne"
    if (strategy !== "oneForOne" && strategy !== "oneForAll" && strategy !== "restForOne") {
      return yield* Effect.fail(new InvalidOptions({ option: "strategy", reason: `must be oneForOne, oneForAll or restForOne, got ${String(strategy)}` }))
    }
    const backoff = options?.backoff ?? Schedule.jittered(Schedule.exponential("10 millis"))
    return { maxRestarts, within, strategy, backoff }
  })

const validateRestart = (restart: RestartType | undefined): Effect.Effect<RestartType, InvalidOptions> => {
  const value = restart ?? "permanent"
  return value === "permanent" || value === "transient" || value === "temporary"
    ? Effect.succeed(value)
    : Effect.fail(new InvalidOptions({ option: "restart", reason: `must be permanent, transient or temporary, got ${String(value)}` }))
}

let supervisorCount = 0

const makeImpl = (options: Options | undefined, owner: Scope.Scope, parent: Parent | undefined) =>
  Effect.gen(function*() {
    const { backoff, maxRestarts, strategy, within } = yield* validate(options)
    const name = options?.name ?? `supervisor-${++supervisorCount}`
    const lifetime = yield* Scope.fork(owner, "sequential")
    const impl = new SupervisorImpl(name, strategy, maxRestarts, within, backoff, lifetime)
    impl.control = yield* (Actor.spawnCell<ChildExited, void, RestartIntensityExceeded, never>(
      { init: Effect.void, receive: (_, event) => impl.handle(event) },
      { name, capacity: 1024 },
      lifetime,
      parent
    ) as Effect.Effect<Cell<ChildExited, void, RestartIntensityExceeded, never>, InvalidOptions>)
    // When the control stops for good, so does everything it supervised, with
    // the same exit: closed from the control's own closing finalizer (no fiber
    // of its own), and before anyone watching the supervisor learns it stopped.
    impl.control.onTerminate = (exit) => Scope.close(lifetime, exit)
    return impl
  })

/**
 * Starts a supervisor in the current Scope. Invalid options (negative
 * `maxRestarts`, a negative window, an unknown strategy) fail with
 * `InvalidOptions`.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Behavior, Supervisor } from "@trawl/actor"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const supervisor = yield* Supervisor.make({
 *     strategy: "oneForOne",
 *     maxRestarts: 5,
 *     within: "10 seconds",
 *     backoff: Schedule.exponential("50 millis").pipe(Schedule.jittered)
 *   })
 *   const worker = yield* Supervisor.spawn(supervisor, Behavior.stateless((n: number) => Effect.log(n)))
 * }))
 * ```
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<Supervisor, InvalidOptions, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (owner) => makeImpl(options, owner, undefined))

const asImpl = (self: Supervisor): SupervisorImpl => self as SupervisorImpl

/**
 * Spawns a supervised child. Its `ActorRef` stays valid across restarts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Behavior, Supervisor } from "@trawl/actor"
 *
 * declare const supervisor: Supervisor.Supervisor
 * const program = Effect.gen(function*() {
 *   const child = yield* Supervisor.spawn(supervisor, Behavior.stateless((url: string) => Effect.log(url)), {
 *     name: "logger",
 *     restart: "transient"
 *   })
 *   yield* Actor.tell(child, "https://shop.example/")
 * })
 * ```
 * @since 0.1.0
 */
export const spawn = <Msg, S, E = never, R = never>(
  self: Supervisor,
  behavior: Behavior<Msg, S, E, R>,
  options?: ChildOptions
): Effect.Effect<Actor.ActorRef<Msg>, E | InvalidOptions | ActorStopped, R> =>
  Effect.gen(function*() {
    const impl = asImpl(self)
    const restart = yield* validateRestart(options?.restart)
    if (impl.control.status === "stopped") return yield* Effect.fail(new ActorStopped({ actor: impl.name }))
    const cell = yield* Actor.spawnCell(behavior, options, impl.lifetime, impl)
    impl.add({
      restart,
      cell,
      suspend: cell.suspend(),
      restartChild: cell.restart(),
      terminate: (exit) => cell.close(exit),
      step: undefined,
      lastRestart: 0
    })
    return cell as unknown as Actor.ActorRef<Msg>
  })

/**
 * Starts a supervisor supervised by another: when it gives up (intensity
 * exceeded), its parent applies its own strategy to it, restarting it with
 * all its children, or escalating further.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Supervisor } from "@trawl/actor"
 *
 * declare const root: Supervisor.Supervisor
 * const program = Supervisor.supervisor(root, { name: "fetchers", strategy: "oneForAll" })
 * ```
 * @since 0.1.0
 */
export const supervisor = (
  self: Supervisor,
  options?: Options & { readonly restart?: RestartType | undefined }
): Effect.Effect<Supervisor, InvalidOptions | ActorStopped> =>
  Effect.gen(function*() {
    const parent = asImpl(self)
    const restart = yield* validateRestart(options?.restart)
    if (parent.control.status === "stopped") return yield* Effect.fail(new ActorStopped({ actor: parent.name }))
    const child = yield* makeImpl(options, parent.lifetime, parent)
    parent.add({
      restart,
      cell: child.control,
      suspend: Effect.andThen(child.suspendAll, child.control.suspend()),
      restartChild: child.restartAll,
      terminate: (exit) => Scope.close(child.lifetime, exit),
      step: undefined,
      lastRestart: 0
    })
    return child
  })

/**
 * The children currently supervised, in start order.
 *
 * @example
 * ```ts
 * import { Supervisor } from "@trawl/actor"
 *
 * declare const supervisor: Supervisor.Supervisor
 * const program = Supervisor.children(supervisor)
 * ```
 * @since 0.1.0
 */
export const children = (self: Supervisor): Effect.Effect<ReadonlyArray<Actor.ActorRef<never>>> =>
  Effect.sync(() => asImpl(self).children.map((c) => c.cell as unknown as Actor.ActorRef<never>))

/**
 * Waits until the supervisor stops; the `exit` tells whether it gave up.
 *
 * @example
 * ```ts
 * import { Supervisor } from "@trawl/actor"
 *
 * declare const supervisor: Supervisor.Supervisor
 * const program = Supervisor.awaitTermination(supervisor)
 * ```
 * @since 0.1.0
 */
export const awaitTermination = (self: Supervisor): Effect.Effect<Actor.Terminated> => Actor.awaitTermination(self.ref)
