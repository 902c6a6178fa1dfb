/**
 * @trawl/actor — local actors on Effect 4 fibers: bounded mailboxes, tell/ask,
 * supervision, watch.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Actor from "./Actor.ts"

/**
 * @since 0.1.0
 */
export * as ActorError from "./ActorError.ts"

/**
 * @since 0.1.0
 */
export * as Behavior from "./Behavior.ts"

/**
 * @since 0.1.0
 */
export * as Mailbox from "./Mailbox.ts"

/**
 * @since 0.1.0
 */
export * as Reply from "./Reply.ts"

/**
 * @since 0.1.0
 */
export * as Supervisor from "./Supervisor.ts"

/**
 * @since 0.1.0
 */
export * as TestProbe from "./TestProbe.ts"

/**
 * @since 0.1.0
 */
export * as Keyed from "./Keyed.ts"
