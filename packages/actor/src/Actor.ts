/**
 * Local actors: a bounded mailbox, typed state and a behaviour, processed one
 * message at a time, in order, on Effect fibers.
 *
 * An actor lives in the Scope it was spawned in: closing that Scope stops it
 * (and everything it spawned). An idle actor holds no fiber, so spawning a
 * million of them is cheap.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { dual } from "effect/Function"
import { type ActorStopped, AskTimeout, InvalidOptions, type MailboxFull } from "./ActorError.ts"
import type { Behavior } from "./Behavior.ts"
import * as Mailbox from "./Mailbox.ts"
import * as Reply from "./Reply.ts"
import { Cell, type Parent, setContextFactory, type Terminated as CellTerminated, TypeId } from "./internal/cell.ts"
import * as Durations from "./internal/duration.ts"
import * as metricsModule from "./internal/metrics.ts"

/**
 * A handle to an actor that accepts `Msg` messages. It stays valid across
 * supervised restarts (the mailbox survives them).
 *
 * @since 0.1.0
 */
export interface ActorRef<in Msg> {
  readonly [TypeId]: typeof TypeId
  readonly id: number
  readonly name: string
  /** Phantom: the message type. */
  readonly "~message"?: ((message: Msg) => void) | undefined
}

/**
 * Delivered to watchers when an actor stops: `exit` is a success for a normal
 * stop, and carries the failure cause otherwise.
 *
 * @since 0.1.0
 */
export interface Terminated extends CellTerminated {}

/**
 * What a behaviour can do besides updating its state.
 *
 * @since 0.1.0
 */
export interface ActorContext<Msg> {
  /** This actor. */
  readonly self: ActorRef<Msg>
  /** The current incarnation's Scope: closed at restart and stop. */
  readonly scope: Scope.Scope
  /** Spawns a child that stops when this actor stops or restarts. */
  readonly spawn: <M, S, E, R>(behavior: Behavior<M, S, E, R>, options?: SpawnOptions) => Effect.Effect<ActorRef<M>, E | InvalidOptions, R>
  /** Sends `toMessage(terminated)` to this actor when `ref` stops. */
  readonly watch: <M>(ref: ActorRef<M>, toMessage: (terminated: Terminated) => Msg) => Effect.Effect<void>
  /** Stops this actor gracefully after the messages already queued. */
  readonly stop: Effect.Effect<void>
}

/**
 * Options of `spawn`: the mailbox's capacity and overflow policy and a name.
 *
 * @since 0.1.0
 */
export interface SpawnOptions extends Mailbox.Options {}

const asCell = <Msg>(ref: ActorRef<Msg>): Cell<Msg, any, any, any> => ref as unknown as Cell<Msg, any, any, any>

/**
 * Is this value an `ActorRef`?
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 * Actor.isActorRef({}) // false
 * ```
 * @since 0.1.0
 */
export const isActorRef = (u: unknown): u is ActorRef<unknown> =>
  typeof u === "object" && u !== null && (u as any)[TypeId] === TypeId

const notPositiveInteger = (option: string, value: number): InvalidOptions | undefined =>
  Number.isSafeInteger(value) && value > 0
    ? undefined
    : new InvalidOptions({ option, reason: `must be a positive integer, got ${value}` })

/** @internal what is wrong with a behaviour's own options (batch size, concurrency), if anything */
export const behaviorProblem = (behavior: Behavior<any, any, any, any>): InvalidOptions | undefined =>
  behavior.batch !== undefined
    ? notPositiveInteger("maxBatch", behavior.batch.maxBatch)
    : behavior.concurrent !== undefined
    ? notPositiveInteger("concurrency", behavior.concurrent.concurrency)
    : undefined

const validateBehavior = (behavior: Behavior<any, any, any, any>): Effect.Effect<void, InvalidOptions> => {
  const problem = behaviorProblem(behavior)
  return problem === undefined ? Effect.void : Effect.fail(problem)
}

/** @internal */
export const spawnCell = <Msg, S, E, R>(
  behavior: Behavior<Msg, S, E, R>,
  options: SpawnOptions | undefined,
  owner: Scope.Scope,
  parent: Parent | undefined
): Effect.Effect<Cell<Msg, S, E, R>, E | InvalidOptions, R> =>
  Effect.flatMap(Effect.andThen(validateBehavior(behavior), Mailbox.validateOptions(options)), ({ capacity, overflow }) =>
    Effect.contextWith((context: Context.Context<R>) => {
      const name = options?.name
      const mailbox = new Mailbox.MailboxImpl<Msg>(name ?? "actor", capacity, overflow)
      const cell = new Cell<Msg, S, E, R>(name, mailbox, behavior, context, owner, parent)
      // an actor whose init failed never ran: release what init acquired
      return Effect.as(Effect.tapError(cell.start(), () => cell.close(Exit.void)), cell)
    }))

/**
 * Spawns an actor in the current Scope. Invalid options (a capacity ≤ 0, an
 * unknown overflow policy) fail with `InvalidOptions`; a failing `init` fails
 * the spawn.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Behavior } from "@trawl/actor"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const logger = yield* Actor.spawn(
 *     Behavior.stateless((line: string) => Effect.log(line)),
 *     { name: "logger", capacity: 256, overflow: "dropOldest" }
 *   )
 *   yield* Actor.tell(logger, "hello")
 * }))
 * ```
 * @since 0.1.0
 */
export const spawn = <Msg, S, E = never, R = never>(
  behavior: Behavior<Msg, S, E, R>,
  options?: SpawnOptions
): Effect.Effect<ActorRef<Msg>, E | InvalidOptions, R | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (owner) => spawnCell(behavior, options, owner, undefined))

/**
 * Sends a message without waiting for it to be processed. A full mailbox
 * applies its policy: `backpressure` waits for room, `fail` fails with
 * `MailboxFull`, the drop policies drop (and count) a message. A stopped
 * actor gives `ActorStopped`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.tell(ref, "hello")
 * const dataLast = Actor.tell("hello")(ref)
 * ```
 * @since 0.1.0
 */
export const tell: {
  <Msg>(message: Msg): (self: ActorRef<Msg>) => Effect.Effect<void, MailboxFull | ActorStopped>
  <Msg>(self: ActorRef<Msg>, message: Msg): Effect.Effect<void, MailboxFull | ActorStopped>
} = dual(2, <Msg>(self: ActorRef<Msg>, message: Msg) => asCell(self).tell(message))

/**
 * Options of `ask`. The timeout is mandatory: an ask never waits forever.
 *
 * @since 0.1.0
 */
export interface AskOptions {
  /** How long to wait for the reply, including time spent waiting for mailbox room. */
  readonly timeout: Duration.Input
}

/**
 * Sends a message carrying a reply channel and waits for the typed reply.
 * No reply within the timeout gives `AskTimeout` (a later reply is dropped);
 * a stopped actor, or one that stops before replying, gives `ActorStopped`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Behavior, Reply } from "@trawl/actor"
 *
 * interface Get { readonly reply: Reply.Reply<number> }
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const counter = yield* Actor.spawn(Behavior.stateful(41, (n, msg: Get) => Effect.as(Reply.succeed(msg.reply, n + 1), n)))
 *   return yield* Actor.ask(counter, (reply) => ({ reply }), { timeout: "1 second" }) // 42
 * }))
 * ```
 * @since 0.1.0
 */
export const ask: {
  <Msg, A, E = never>(
    makeMessage: (reply: Reply.Reply<A, E>) => Msg,
    options: AskOptions
  ): (self: ActorRef<Msg>) => Effect.Effect<A, E | AskTimeout | ActorStopped | MailboxFull | InvalidOptions>
  <Msg, A, E = never>(
    self: ActorRef<Msg>,
    makeMessage: (reply: Reply.Reply<A, E>) => Msg,
    options: AskOptions
  ): Effect.Effect<A, E | AskTimeout | ActorStopped | MailboxFull | InvalidOptions>
} = dual(3, <Msg, A, E>(
  self: ActorRef<Msg>,
  makeMessage: (reply: Reply.Reply<A, E>) => Msg,
  options: AskOptions
): Effect.Effect<A, E | AskTimeout | ActorStopped | MailboxFull | InvalidOptions> =>
  Effect.flatMap(Durations.validate("timeout", options.timeout), (timeout) =>
    Effect.withFiber((fiber) => {
      const cell = asCell(self)
      const reply = new Reply.ReplyImpl<A, E>()
      const millis = Duration.toMillis(timeout)
      const timedOut = () => new AskTimeout({ actor: cell.name, timeoutMillis: millis })
      const started = performance.now()
      ;(cell.asks ??= new Set()).add(reply)
      const done = Effect.sync(() => {
        // settle, so a late reply finds the channel closed and is dropped
        reply.settled = true
        reply.resume = undefined
        cell.asks?.delete(reply)
      })
      const mailbox = cell.mailbox
      // Fast path: with the live clock and room in the mailbox the message is
      // queued without waiting, so one timer bounds the whole ask (no racing fibers).
      const fast = fiber.getRef(Clock.Clock).constructor === liveClock && mailbox.size < mailbox.capacity &&
        mailbox.putters === undefined
      const asked = Effect.andThen(
        cell.tell(makeMessage(reply)),
        Effect.callback<A, E | AskTimeout | ActorStopped>((resume) => {
          if (reply.result !== undefined) return resume(reply.result)
          reply.resume = resume
          if (!fast) return
          reply.timer = setTimeout(() => reply.complete(Exit.fail(timedOut()) as never), millis)
          return Effect.sync(() => reply.clearTimer())
        })
      )
      return (fast ? asked : Effect.timeoutOrElse(asked, { duration: timeout, orElse: () => Effect.fail(timedOut()) })).pipe(
        Effect.onExit((exit) => {
          if (Exit.isSuccess(exit)) metricsModule.askLatency.updateUnsafe(performance.now() - started, cell.context)
          return done
        })
      )
    })))

const liveClock = Clock.Clock.defaultValue().constructor

/**
 * Stops an actor gracefully: it accepts no new messages, processes what is
 * queued, runs its finalizers, and stops; waits until it has. Never
 * restarted by a supervisor.
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.stop(ref)
 * ```
 * @since 0.1.0
 */
export const stop = <Msg>(self: ActorRef<Msg>): Effect.Effect<void> =>
  Effect.andThen(asCell(self).stop(), Effect.asVoid(awaitTermination(self)))

/**
 * Stops an actor now: the message in progress is interrupted, queued messages
 * are discarded (pending asks get `ActorStopped`), finalizers run.
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.interrupt(ref)
 * ```
 * @since 0.1.0
 */
export const interrupt = <Msg>(self: ActorRef<Msg>): Effect.Effect<void> => asCell(self).interrupt()

/**
 * Waits until the actor has stopped, and tells how.
 *
 * @example
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Effect.map(Actor.awaitTermination(ref), (t) => Exit.isSuccess(t.exit))
 * ```
 * @since 0.1.0
 */
export const awaitTermination = <Msg>(self: ActorRef<Msg>): Effect.Effect<Terminated> =>
  Effect.callback<Terminated>((resume) => {
    const remove = asCell(self).addWatcher((terminated) => resume(Effect.succeed(terminated)))
    return Effect.sync(remove)
  })

/**
 * Is the actor still running (or restarting)?
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.isAlive(ref)
 * ```
 * @since 0.1.0
 */
export const isAlive = <Msg>(self: ActorRef<Msg>): Effect.Effect<boolean> =>
  Effect.sync(() => asCell(self).status !== "stopped")

/**
 * Messages queued in the actor's mailbox right now.
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.mailboxSize(ref)
 * ```
 * @since 0.1.0
 */
export const mailboxSize = <Msg>(self: ActorRef<Msg>): Effect.Effect<number> =>
  Effect.sync(() => asCell(self).mailbox.size)

/**
 * How many messages the actor's mailbox holds at most (fixed when it was
 * spawned): what `mailboxSize` is measured against.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const full = Effect.map(Actor.mailboxSize(ref), (size) => size >= Actor.mailboxCapacity(ref))
 * ```
 * @since 0.3.0
 */
export const mailboxCapacity = <Msg>(self: ActorRef<Msg>): number => asCell(self).mailbox.capacity

/**
 * Messages the actor is handling right now: up to the concurrency for a
 * `Behavior.concurrent` stage, the batch size for a `Behavior.batched` one
 * in the middle of a batch, otherwise 0 or 1.
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 *
 * declare const fetcher: Actor.ActorRef<string>
 * const program = Actor.inProgress(fetcher)
 * ```
 * @since 0.1.0
 */
export const inProgress = <Msg>(self: ActorRef<Msg>): Effect.Effect<number> =>
  Effect.sync(() => asCell(self).inProgress)

/**
 * Messages the actor's mailbox dropped so far (drop policies).
 *
 * @example
 * ```ts
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.droppedCount(ref)
 * ```
 * @since 0.1.0
 */
export const droppedCount = <Msg>(self: ActorRef<Msg>): Effect.Effect<number> =>
  Effect.sync(() => asCell(self).mailbox.dropped)

/**
 * Watches `target` from outside any actor: forks (into the current Scope) a
 * fiber that runs `onTerminated` when the target stops.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@trawl/actor"
 *
 * declare const ref: Actor.ActorRef<string>
 * const program = Actor.watch(ref, (t) => Effect.log(`${t.actor} stopped`))
 * ```
 * @since 0.1.0
 */
export const watch = <Msg, X, R>(
  target: ActorRef<Msg>,
  onTerminated: (terminated: Terminated) => Effect.Effect<X, never, R>
): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.asVoid(Effect.forkScoped(Effect.flatMap(awaitTermination(target), onTerminated)))

// One small object per actor (made on its first message) whose members live on
// the prototype: 100,000 actors must not carry 100,000 sets of closures.
class ActorContextImpl<Msg> implements ActorContext<Msg> {
  readonly cell: Cell<Msg, any, any, any>
  constructor(cell: Cell<Msg, any, any, any>) {
    this.cell = cell
  }
  get self(): ActorRef<Msg> {
    return this.cell as unknown as ActorRef<Msg>
  }
  get scope(): Scope.Scope {
    return this.cell.scope
  }
  spawn<M, S, E, R>(behavior: Behavior<M, S, E, R>, options?: SpawnOptions): Effect.Effect<ActorRef<M>, E | InvalidOptions, R> {
    return Effect.suspend(() => spawnCell(behavior, options, this.cell.scope, undefined)) as any
  }
  watch<M>(ref: ActorRef<M>, toMessage: (terminated: Terminated) => Msg): Effect.Effect<void> {
    const cell = this.cell
    return Effect.suspend(() =>
      Effect.asVoid(Effect.forkIn(
        Effect.flatMap(awaitTermination(ref), (terminated) => Effect.ignore(cell.tell(toMessage(terminated)))),
        cell.scope
      ))
    )
  }
  get stop(): Effect.Effect<void> {
    const cell = this.cell
    return Effect.sync(() => {
      cell.mailbox.end()
    })
  }
}

const makeActorContext = <Msg>(cell: Cell<Msg, any, any, any>): ActorContext<Msg> => new ActorContextImpl(cell)

setContextFactory(makeActorContext)

/** @internal fibers an actor holds right now: none when idle */
export const fiberCount = <Msg>(self: ActorRef<Msg>): number => asCell(self).fiberCount

/** @internal */
export const fiberOf = <Msg>(self: ActorRef<Msg>): Fiber.Fiber<void, never> | undefined => asCell(self).fiber

/**
 * The runtime's metrics, for dashboards and tests: messages processed and
 * dropped, restarts, ask latency (ms), and the mailbox depth of named actors
 * (attribute `actor`).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Actor } from "@trawl/actor"
 *
 * const processed = Effect.map(Metric.value(Actor.metrics.messagesProcessed), (state) => state.count)
 * ```
 * @since 0.1.0
 */
export const metrics = {
  messagesProcessed: metricsModule.messagesProcessed,
  messagesDropped: metricsModule.messagesDropped,
  restarts: metricsModule.restarts,
  askLatency: metricsModule.askLatency,
  mailboxDepth: metricsModule.mailboxDepth
} as const
