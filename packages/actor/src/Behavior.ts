/**
 * What an actor does: an `init` effect that makes its initial state (run at
 * spawn and at every restart, inside the incarnation's Scope, so resources it
 * acquires are released on restart and stop), and a `receive` function that
 * processes one message and returns the next state. `batched` processes
 * queued messages a batch at a time; `concurrent` handles up to N at once.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ActorContext } from "./Actor.ts"

/**
 * A typed actor behaviour over messages `Msg` and state `S`.
 *
 * @since 0.1.0
 */
export interface Behavior<in out Msg, in out S, out E = never, out R = never> {
  readonly init: Effect.Effect<S, E, R | Scope.Scope>
  readonly receive: (state: S, message: Msg, context: ActorContext<Msg>) => Effect.Effect<S, E, R>
  /**
   * A pure, synchronous step (see `reducer`): when present the actor calls it
   * instead of `receive`, with no effect allocated per message. A throw is a
   * defect, handled like any failure (supervision, `Terminated`).
   */
  readonly reduce?: ((state: S, message: Msg, context: ActorContext<Msg>) => S) | undefined
  /**
   * After a supervised restart, process the message whose handling failed once
   * more (it is put back at the head of the mailbox). Default `false`: the
   * failing message is dropped.
   */
  readonly redeliverOnRestart?: boolean | undefined
  /**
   * Set by `batched`: the actor hands `batch.receive` up to `maxBatch` queued
   * messages at a time instead of calling `receive` per message.
   */
  readonly batch?: {
    readonly maxBatch: number
    readonly receive: (state: S, batch: ReadonlyArray<Msg>, context: ActorContext<Msg>) => Effect.Effect<S, E, R>
  } | undefined
  /**
   * Set by `concurrent`: up to `concurrency` messages are handled at once, each
   * by `handle` in a fiber of the current incarnation; the state is unused.
   */
  readonly concurrent?: {
    readonly concurrency: number
    readonly handle: (message: Msg, context: ActorContext<Msg>) => Effect.Effect<void, E, R>
  } | undefined
}

/**
 * A behaviour from an `init` effect and a `receive` function.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Behavior } from "@trawl/actor"
 *
 * const counter = Behavior.make({
 *   init: Effect.succeed(0),
 *   receive: (count, _message: "inc") => Effect.succeed(count + 1)
 * })
 * ```
 * @since 0.1.0
 */
export const make = <Msg, S, E = never, R = never>(options: {
  readonly init: Effect.Effect<S, E, R | Scope.Scope>
  readonly receive: (state: S, message: Msg, context: ActorContext<Msg>) => Effect.Effect<S, E, R>
  readonly redeliverOnRestart?: boolean | undefined
}): Behavior<Msg, S, E, R> => options

/**
 * A behaviour whose initial state is a plain value.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Behavior } from "@trawl/actor"
 *
 * const sum = Behavior.stateful(0, (total, n: number) => Effect.succeed(total + n))
 * ```
 * @since 0.1.0
 */
export const stateful = <Msg, S, E = never, R = never>(
  initial: S,
  receive: (state: S, message: Msg, context: ActorContext<Msg>) => Effect.Effect<S, E, R>
): Behavior<Msg, S, E, R> => ({ init: Effect.succeed(initial), receive })

/**
 * A behaviour whose step is a pure function of the state and the message —
 * the fastest kind: the actor folds its mailbox into the state in a plain loop.
 * Use `make` or `stateful` when a step needs effects (I/O, replies, spawning).
 *
 * @example
 * ```ts
 * import { Behavior } from "@trawl/actor"
 *
 * const total = Behavior.reducer(0, (sum, n: number) => sum + n)
 * ```
 * @since 0.1.0
 */
export const reducer = <Msg, S>(
  initial: S,
  reduce: (state: S, message: Msg, context: ActorContext<Msg>) => S
): Behavior<Msg, S> => ({
  init: Effect.succeed(initial),
  receive: (state, message, context) => Effect.sync(() => reduce(state, message, context)),
  reduce
})

/**
 * A behaviour without state.
 *
 * @example
 * ```ts
 * import { Console } from "effect"
 * import { Behavior } from "@trawl/actor"
 *
 * const printer = Behavior.stateless((line: string) => Console.log(line))
 * ```
 * @since 0.1.0
 */
export const stateless = <Msg, E = never, R = never>(
  handler: (message: Msg, context: ActorContext<Msg>) => Effect.Effect<void, E, R>
): Behavior<Msg, void, E, R> => ({
  init: Effect.void,
  receive: (_state, message, context) => handler(message, context)
})

/**
 * A behaviour that drains its mailbox in batches: `receive` gets 1 to
 * `maxBatch` messages, oldest first — all that were queued (up to `maxBatch`)
 * when the batch was taken. Messages that arrive while a batch is processed
 * make the next one, so under load batches grow by themselves (a store writer
 * writes them in one transaction). A graceful `Actor.stop` processes every
 * queued message, in batches, before stopping. With `redeliverOnRestart` the
 * failed batch is handed again, first, after a supervised restart. A
 * `maxBatch` that is not a positive integer fails the spawn with
 * `InvalidOptions`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Behavior } from "@trawl/actor"
 *
 * declare const writeAll: (rows: ReadonlyArray<string>) => Effect.Effect<void>
 *
 * const writer = Behavior.batched({
 *   init: Effect.succeed(0),
 *   maxBatch: 500,
 *   receive: (written, rows: ReadonlyArray<string>) => Effect.as(writeAll(rows), written + rows.length)
 * })
 * ```
 * @since 0.1.0
 */
export const batched = <Msg, S, E = never, R = never>(options: {
  readonly init: Effect.Effect<S, E, R | Scope.Scope>
  /** Largest batch handed to `receive`; a positive integer. */
  readonly maxBatch: number
  /** Called with 1..maxBatch messages, oldest first, all that were queued (up to maxBatch) when the batch was taken. */
  readonly receive: (state: S, batch: ReadonlyArray<Msg>, context: ActorContext<Msg>) => Effect.Effect<S, E, R>
  /** After a restart, hand the failed batch again first (put back at the head of the mailbox). Default false. */
  readonly redeliverOnRestart?: boolean | undefined
}): Behavior<Msg, S, E, R> => {
  const receive = options.receive
  return {
    init: options.init,
    receive: (state, message, context) => receive(state, [message], context),
    redeliverOnRestart: options.redeliverOnRestart,
    batch: { maxBatch: options.maxBatch, receive }
  }
}

/**
 * A stage whose messages are handled by up to `concurrency` fibers at once
 * (a fetch stage with 256 requests in flight). Messages are taken in order by
 * up to `concurrency` fibers forked in the actor's current incarnation scope,
 * each handling one message at a time (completions come in any order); with
 * `concurrency` handlers running the actor takes no more messages, so its
 * bounded mailbox fills and backpressure reaches the senders. A fiber ends as
 * soon as it finds the mailbox empty: an idle stage holds no fiber.
 *
 * - A handler that fails fails the actor like a failing `receive`; on a
 *   supervised restart the messages whose handlers were still running are put
 *   back at the head of the mailbox, in their original order, and handled
 *   again; the failed message too with `redeliverOnRestart`.
 * - `Actor.stop` handles everything queued and waits for every handler;
 *   `Actor.interrupt` (or closing the scope) interrupts them.
 * - `Actor.inProgress` tells how many handlers are running.
 *
 * A `concurrency` that is not a positive integer fails the spawn with
 * `InvalidOptions`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Behavior } from "@trawl/actor"
 *
 * declare const fetchPage: (url: string) => Effect.Effect<void, Error>
 *
 * const fetcher = Behavior.concurrent({ concurrency: 256, handle: (url: string) => fetchPage(url) })
 * ```
 * @since 0.1.0
 */
export const concurrent = <Msg, E = never, R = never>(options: {
  /** Messages handled at once; a positive integer. */
  readonly concurrency: number
  readonly handle: (message: Msg, context: ActorContext<Msg>) => Effect.Effect<void, E, R>
  /** After a restart, handle the message whose handler failed once more. Default false. */
  readonly redeliverOnRestart?: boolean | undefined
}): Behavior<Msg, void, E, R> => {
  const handle = options.handle
  return {
    init: Effect.void,
    receive: (_state, message, context) => handle(message, context),
    redeliverOnRestart: options.redeliverOnRestart,
    concurrent: { concurrency: options.concurrency, handle }
  }
}
