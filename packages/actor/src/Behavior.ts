/**
 * What an actor does: an `init` effect that makes its initial state (run at
 * spawn and at every restart, inside the incarnation's Scope, so resources it
 * acquires are released on restart and stop), and a `receive` function that
 * processes one message and returns the next state.
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
