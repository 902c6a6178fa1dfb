/**
 * A registry of actors ("entities") created on demand by key and passivated
 * when idle: one actor per host among 100,000 hosts, most of them idle.
 *
 * - **On demand**: `tell` / `ask` to a key with no live entity creates one
 *   from `behavior(key)`. Keys are compared as `Map` keys: strings and numbers
 *   by value, objects by identity.
 * - **Passivation**: an entity that has processed no message for
 *   `idleTimeout`, with an empty mailbox, is stopped (its finalizers run) and
 *   forgotten, unless `keepIdle(state, key)` vetoes it. One sweeper fiber per
 *   registry, forked into the registry's scope, checks every
 *   `idleTimeout / 2`, so an idle entity goes between 1 and 1.5 ×
 *   `idleTimeout` after its last message; entities need no fiber or timer of
 *   their own. A message for a key being passivated is never lost: it goes to
 *   a fresh entity.
 * - **Failures stay with the entity**: an entity whose behaviour fails (or
 *   whose `init` fails) is stopped and removed, and its failure logged at
 *   Warning with the cause; messages still queued in its mailbox are discarded
 *   (pending asks get `ActorStopped`); the next message for its key creates a
 *   fresh entity. One bad key never takes the registry down.
 * - **Lifetime**: entities live in the registry's scope, a child of the Scope
 *   `make` ran in: closing it stops them all.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Actor from "./Actor.ts"
import { ActorStopped, InvalidOptions, type AskTimeout, type MailboxFull } from "./ActorError.ts"
import type { Behavior } from "./Behavior.ts"
import * as Mailbox from "./Mailbox.ts"
import type * as Reply from "./Reply.ts"
import { summarize } from "./internal/cause.ts"
import { Cell, type Parent } from "./internal/cell.ts"
import * as Durations from "./internal/duration.ts"

const TypeId = "~@trawl/actor/Keyed" as const

/**
 * A registry of entities of key `K` accepting `Msg` messages.
 *
 * @since 0.1.0
 */
export interface Keyed<in out K, in Msg> {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  /** Phantom: the key and message types. */
  readonly "~keyed"?: ((key: K, message: Msg) => K) | undefined
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 */
export interface Options<K, Msg, S, E, R> {
  /** Name in logs and errors; entities are named `name[key]`. */
  readonly name?: string | undefined
  /** The behaviour of the entity for a key. */
  readonly behavior: (key: K) => Behavior<Msg, S, E, R>
  /** Each entity's mailbox. */
  readonly mailbox?: Mailbox.Options | undefined
  /** An entity that has processed no message for this long, with an empty mailbox, is stopped and forgotten. */
  readonly idleTimeout: Duration.Input
  /** Optional veto: keep an idle entity whose state still matters (e.g. an open circuit). */
  readonly keepIdle?: ((state: S, key: K) => boolean) | undefined
}

/** Sweeps an entity has to stay idle through before it is passivated: see `sweep`. */
const idleSweeps = 3

class KeyedImpl<K, Msg, S> implements Keyed<K, Msg>, Parent {
  readonly [TypeId] = TypeId
  readonly entities = new Map<K, Cell<Msg, S, unknown, unknown>>()
  /**
   * Counts sweeps. An entity stores the epoch of its last message instead of
   * a timestamp: no clock read per message.
   */
  epoch = 0
  readonly name: string
  readonly behavior: (key: K) => Behavior<Msg, S, unknown, unknown>
  readonly capacity: number
  readonly overflow: Mailbox.OverflowPolicy
  readonly keepIdle: ((state: S, key: K) => boolean) | undefined
  readonly scope: Scope.Closeable
  readonly context: Context.Context<unknown>
  constructor(
    name: string,
    behavior: (key: K) => Behavior<Msg, S, unknown, unknown>,
    capacity: number,
    overflow: Mailbox.OverflowPolicy,
    keepIdle: ((state: S, key: K) => boolean) | undefined,
    scope: Scope.Closeable,
    context: Context.Context<unknown>
  ) {
    this.name = name
    this.behavior = behavior
    this.capacity = capacity
    this.overflow = overflow
    this.keepIdle = keepIdle
    this.scope = scope
    this.context = context
  }

  /** The live entity for `key`, created (and started) if there is none. */
  acquire(key: K): Effect.Effect<Cell<Msg, S, unknown, unknown>, ActorStopped> {
    const existing = this.entities.get(key)
    if (existing !== undefined) {
      existing.lastActive = this.epoch
      return Exit.succeed(existing)
    }
    if (this.scope.state._tag === "Closed") return Exit.fail(new ActorStopped({ actor: this.name }))
    const behavior = this.behavior(key)
    const problem = Actor.behaviorProblem(behavior)
    if (problem !== undefined) return Effect.die(problem)
    const mailbox = new Mailbox.MailboxImpl<Msg>(this.name, this.capacity, this.overflow)
    // no mailbox-depth gauge per entity: 100,000 of them would flood the metrics
    // unnamed: the cell derives `name[key]` when asked, instead of keeping a string
    const cell = new Cell<Msg, S, unknown, unknown>(undefined, mailbox, behavior, this.context, this.scope, this, false)
    cell.key = key
    cell.lastActive = this.epoch
    // registered before init runs, so concurrent senders share this entity;
    // "suspended" queues their messages until init is done
    cell.status = "suspended"
    this.entities.set(key, cell)
    return Effect.matchCauseEffect(cell.start(), {
      onFailure: (cause) =>
        Effect.andThen(
          this.childExited(cell, Exit.failCause(cause), false),
          Effect.fail(new ActorStopped({ actor: cell.name }))
        ),
      onSuccess: () => {
        if (cell.status !== "suspended") return Exit.succeed(cell)
        cell.status = "idle"
        return Effect.as(cell.wake(), cell)
      }
    })
  }

  /** An entity ended by itself (failure, or a stop from its behaviour): forget it, log a failure, close it. */
  childExited(cell: Cell<any, any, any, any>, exit: Exit.Exit<void, unknown>, _selfStopped: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.entities.get(cell.key as K) === cell) this.entities.delete(cell.key as K)
      if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return cell.close(exit)
      return Effect.andThen(
        Effect.logWarning(
          `keyed "${this.name}": entity ${String(cell.key)} died: ${summarize(exit.cause)}; removed, the next message recreates it`,
          exit.cause
        ).pipe(Effect.annotateLogs({ keyed: this.name, key: String(cell.key), actor: cell.name })),
        cell.close(exit)
      )
    })
  }

  /**
   * Marks idle entities for passivation: an entity busy or with queued
   * messages counts as active now; one idle for `idleSweeps` sweeps
   * (`idleTimeout` at least, 1.5 × at most) is forgotten and its mailbox
   * ended in the same synchronous step, so a later message for its key goes
   * to a fresh entity and none is lost.
   */
  sweep(): Array<Cell<Msg, S, unknown, unknown>> {
    const epoch = ++this.epoch
    const keepIdle = this.keepIdle
    const passivated: Array<Cell<Msg, S, unknown, unknown>> = []
    for (const [key, cell] of this.entities) {
      if (cell.status !== "idle" || cell.mailbox.size > 0) {
        cell.lastActive = epoch
        continue
      }
      if (epoch - cell.lastActive < idleSweeps) continue
      if (keepIdle !== undefined && keepIdle(cell.state, key)) continue
      this.entities.delete(key)
      cell.mailbox.end()
      passivated.push(cell)
    }
    return passivated
  }
}

const asImpl = <K, Msg>(self: Keyed<K, Msg>): KeyedImpl<K, Msg, unknown> => self as unknown as KeyedImpl<K, Msg, unknown>

let keyedCount = 0

/**
 * Starts a registry in the current Scope, with its sweeper. Invalid options
 * (a mailbox capacity ≤ 0, an idle timeout ≤ 0) fail with `InvalidOptions`.
 * A behaviour whose own options are invalid (`maxBatch`, `concurrency`) is a
 * defect of the message that creates its entity.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Behavior, Keyed } from "@trawl/actor"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const hosts = yield* Keyed.make({
 *     name: "hosts",
 *     behavior: (host: string) => Behavior.stateful(0, (fetched, _url: string) => Effect.succeed(fetched + 1)),
 *     mailbox: { capacity: 64 },
 *     idleTimeout: "5 minutes"
 *   })
 *   yield* Keyed.tell(hosts, "shop.example", "https://shop.example/p/1")
 * }))
 * ```
 * @since 0.1.0
 */
export const make = <K, Msg, S, E = never, R = never>(
  options: Options<K, Msg, S, E, R>
): Effect.Effect<Keyed<K, Msg>, InvalidOptions, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { capacity, overflow } = yield* Mailbox.validateOptions(options.mailbox)
    const idleTimeout = yield* Durations.validate("idleTimeout", options.idleTimeout)
    if (!Duration.isPositive(idleTimeout)) {
      return yield* Effect.fail(new InvalidOptions({ option: "idleTimeout", reason: "must be positive" }))
    }
    const owner = yield* Effect.scope
    const context = yield* Effect.context<R>()
    const scope = yield* Scope.fork(owner, "sequential")
    const impl = new KeyedImpl<K, Msg, S>(
      options.name ?? `keyed-${++keyedCount}`,
      options.behavior as (key: K) => Behavior<Msg, S, unknown, unknown>,
      capacity,
      overflow,
      options.keepIdle,
      scope,
      context as Context.Context<unknown>
    )
    const half = Duration.divideUnsafe(idleTimeout, 2)
    const sweeper = Effect.forever(
      Effect.andThen(
        Effect.sleep(half),
        Effect.suspend(() => Effect.forEach(impl.sweep(), (cell) => cell.stop(), { discard: true }))
      )
    )
    yield* Effect.forkIn(sweeper, scope)
    return impl as Keyed<K, Msg>
  })

/**
 * Sends a message to the entity for `key`, creating it if there is none.
 * The entity's mailbox policy applies (`backpressure` waits for room, `fail`
 * gives `MailboxFull`). `ActorStopped` means the registry is closed, or the
 * new entity's `init` failed.
 *
 * @example
 * ```ts
 * import { Keyed } from "@trawl/actor"
 *
 * declare const hosts: Keyed.Keyed<string, string>
 * const program = Keyed.tell(hosts, "shop.example", "https://shop.example/p/1")
 * const dataLast = Keyed.tell("shop.example", "https://shop.example/p/2")(hosts)
 * ```
 * @since 0.1.0
 */
export const tell: {
  <K, Msg>(key: K, message: Msg): (self: Keyed<K, Msg>) => Effect.Effect<void, MailboxFull | ActorStopped>
  <K, Msg>(self: Keyed<K, Msg>, key: K, message: Msg): Effect.Effect<void, MailboxFull | ActorStopped>
} = dual(3, <K, Msg>(self: Keyed<K, Msg>, key: K, message: Msg): Effect.Effect<void, MailboxFull | ActorStopped> =>
  Effect.suspend(() => {
    const impl = asImpl(self)
    const cell = impl.entities.get(key)
    if (cell !== undefined) {
      // looked up and offered in one synchronous step: no sweep can come between
      cell.lastActive = impl.epoch
      return cell.offerNow(message)
    }
    return Effect.flatMap(impl.acquire(key), (created) => created.tell(message))
  }))

/**
 * Asks the entity for `key` (created if there is none) and waits for the
 * typed reply, as `Actor.ask` does.
 *
 * @example
 * ```ts
 * import { Keyed, Reply } from "@trawl/actor"
 *
 * interface Status { readonly reply: Reply.Reply<number> }
 * declare const hosts: Keyed.Keyed<string, Status>
 * const program = Keyed.ask(hosts, "shop.example", (reply: Reply.Reply<number>) => ({ reply }), { timeout: "1 second" })
 * ```
 * @since 0.1.0
 */
export const ask: {
  <K, Msg, A, E = never>(
    key: K,
    makeMessage: (reply: Reply.Reply<A, E>) => Msg,
    options: Actor.AskOptions
  ): (self: Keyed<K, Msg>) => Effect.Effect<A, E | AskTimeout | ActorStopped | MailboxFull | InvalidOptions>
  <K, Msg, A, E = never>(
    self: Keyed<K, Msg>,
    key: K,
    makeMessage: (reply: Reply.Reply<A, E>) => Msg,
    options: Actor.AskOptions
  ): Effect.Effect<A, E | AskTimeout | ActorStopped | MailboxFull | InvalidOptions>
} = dual(4, <K, Msg, A, E>(
  self: Keyed<K, Msg>,
  key: K,
  makeMessage: (reply: Reply.Reply<A, E>) => Msg,
  options: Actor.AskOptions
): Effect.Effect<A, E | AskTimeout | ActorStopped | MailboxFull | InvalidOptions> =>
  // acquiring marks the entity active in this epoch: no sweep can passivate
  // it before the ask's message is queued
  Effect.flatMap(
    Effect.suspend(() => asImpl(self).acquire(key)),
    (cell) => Actor.ask(cell as unknown as Actor.ActorRef<Msg>, makeMessage, options)
  ))

/**
 * Live entities right now.
 *
 * @example
 * ```ts
 * import { Keyed } from "@trawl/actor"
 *
 * declare const hosts: Keyed.Keyed<string, string>
 * const program = Keyed.size(hosts)
 * ```
 * @since 0.1.0
 */
export const size = <K, Msg>(self: Keyed<K, Msg>): Effect.Effect<number> => Effect.sync(() => asImpl(self).entities.size)

/**
 * The live entity for `key`, if any (none is created). The ref stops working
 * (`ActorStopped`) once the entity is passivated or fails: send through
 * `Keyed.tell` to have a fresh one created.
 *
 * @example
 * ```ts
 * import { Keyed } from "@trawl/actor"
 *
 * declare const hosts: Keyed.Keyed<string, string>
 * const program = Keyed.get(hosts, "shop.example")
 * const dataLast = Keyed.get("shop.example")(hosts)
 * ```
 * @since 0.1.0
 */
export const get: {
  <K>(key: K): <Msg>(self: Keyed<K, Msg>) => Effect.Effect<Option.Option<Actor.ActorRef<Msg>>>
  <K, Msg>(self: Keyed<K, Msg>, key: K): Effect.Effect<Option.Option<Actor.ActorRef<Msg>>>
} = dual(2, <K, Msg>(self: Keyed<K, Msg>, key: K): Effect.Effect<Option.Option<Actor.ActorRef<Msg>>> =>
  Effect.sync(() => Option.fromNullishOr(asImpl(self).entities.get(key) as unknown as Actor.ActorRef<Msg> | undefined)))
