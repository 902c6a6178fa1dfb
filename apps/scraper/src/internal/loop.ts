/**
 * A loop as an actor: the actor's one message runs `body` forever. A defect
 * in the body fails the actor, its supervisor restarts it, and the message is
 * delivered again (`redeliverOnRestart`), so the loop resumes under the new
 * incarnation. Stopping it is `Actor.interrupt` (the loop never ends by
 * itself, so a graceful stop would wait for ever).
 *
 * @internal
 */
import { type Actor, Behavior as Behaviors } from "@trawl/actor"
import * as Effect from "effect/Effect"

/** The one message of a loop actor. */
export interface Run {
  readonly _tag: "Run"
}

/** The message that starts (and, after a restart, resumes) a loop actor. */
export const run: Run = { _tag: "Run" }

/** The behaviour of a loop actor. */
export type Behavior<E, R> = Behaviors.Behavior<Run, void, E, R>

/** A behaviour that runs `body` for ever once told `run`. */
export const behavior = <E, R>(body: Effect.Effect<void, E, R>): Behavior<E, R> =>
  Behaviors.make({
    init: Effect.void,
    receive: () => Effect.forever(body) as Effect.Effect<void, E, R>,
    redeliverOnRestart: true
  })

/** `body` every `everyMillis`, started by telling `run`. */
export const every = <E, R>(everyMillis: number, body: Effect.Effect<void, E, R>): Behavior<E, R> =>
  behavior(Effect.andThen(Effect.sleep(everyMillis), body))

/** Loop actors take one message; a mailbox of one is enough. */
export const mailbox = (name: string): Actor.SpawnOptions => ({ name, capacity: 1, overflow: "dropNewest" })
