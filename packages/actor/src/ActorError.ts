/**
 * Typed failures of actors: what a sender, an asker or a spawner can get back.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import { summarize } from "./internal/cause.ts"

/**
 * A `tell` or `ask` found the mailbox full under the `fail` overflow policy.
 *
 * @example
 * ```ts
 * import { ActorError } from "@trawl/actor"
 * const error = new ActorError.MailboxFull({ actor: "store-writer", capacity: 1024 })
 * error.message // "mailbox of store-writer is full (capacity 1024)"
 * ```
 * @since 0.1.0
 */
export class MailboxFull extends Data.TaggedError("MailboxFull")<{
  readonly actor: string
  readonly capacity: number
}> {
  override get message(): string {
    return `mailbox of ${this.actor} is full (capacity ${this.capacity})`
  }
}

/**
 * No reply arrived within the ask's timeout. A reply that comes later is dropped.
 *
 * @example
 * ```ts
 * import { ActorError } from "@trawl/actor"
 * const error = new ActorError.AskTimeout({ actor: "gate", timeoutMillis: 500 })
 * ```
 * @since 0.1.0
 */
export class AskTimeout extends Data.TaggedError("AskTimeout")<{
  readonly actor: string
  readonly timeoutMillis: number
}> {
  override get message(): string {
    return `${this.actor} did not reply within ${this.timeoutMillis} ms`
  }
}

/**
 * The actor has stopped (or stopped before replying): the message was not, or
 * will never be, processed.
 *
 * @example
 * ```ts
 * import { ActorError } from "@trawl/actor"
 * const error = new ActorError.ActorStopped({ actor: "gate" })
 * ```
 * @since 0.1.0
 */
export class ActorStopped extends Data.TaggedError("ActorStopped")<{
  readonly actor: string
}> {
  override get message(): string {
    return `${this.actor} has stopped`
  }
}

/**
 * Options rejected at spawn (or ask) time, e.g. a mailbox capacity ≤ 0 or a
 * negative timeout.
 *
 * @example
 * ```ts
 * import { ActorError } from "@trawl/actor"
 * const error = new ActorError.InvalidOptions({ option: "capacity", reason: "must be a positive integer, got 0" })
 * ```
 * @since 0.1.0
 */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid option ${this.option}: ${this.reason}`
  }
}

/**
 * A standalone mailbox was ended or shut down.
 *
 * @example
 * ```ts
 * import { ActorError } from "@trawl/actor"
 * const error = new ActorError.MailboxClosed({ mailbox: "pages" })
 * ```
 * @since 0.1.0
 */
export class MailboxClosed extends Data.TaggedError("MailboxClosed")<{
  readonly mailbox: string
}> {
  override get message(): string {
    return `${this.mailbox} is closed`
  }
}

/**
 * A supervisor restarted its children more often than its intensity allows and
 * gave up; it fails with this error, which escalates to its own parent. It
 * names the child whose failure exceeded the intensity and carries that
 * failure's cause.
 *
 * @example
 * ```ts
 * import { Cause } from "effect"
 * import { ActorError } from "@trawl/actor"
 * const error = new ActorError.RestartIntensityExceeded({
 *   supervisor: "pipeline",
 *   restarts: 4,
 *   withinMillis: 5000,
 *   child: "fetch",
 *   cause: Cause.die(new Error("boom"))
 * })
 * error.message // 'supervisor "pipeline" gave up: 4 restarts within 5000 ms; last: actor "fetch" died: Error: boom'
 * ```
 * @since 0.1.0
 */
export class RestartIntensityExceeded extends Data.TaggedError("RestartIntensityExceeded")<{
  readonly supervisor: string
  readonly restarts: number
  readonly withinMillis: number
  /** The child whose exit exceeded the intensity. */
  readonly child: string
  /** How that child last ended: empty when it stopped itself (a `permanent` child). */
  readonly cause: Cause.Cause<unknown>
}> {
  override get message(): string {
    const last = this.cause.reasons.length === 0
      ? `actor "${this.child}" stopped`
      : `actor "${this.child}" died: ${summarize(this.cause)}`
    return `supervisor "${this.supervisor}" gave up: ${this.restarts} restarts within ${this.withinMillis} ms; last: ${last}`
  }
}

/**
 * Any typed failure of the actor runtime itself.
 *
 * @since 0.1.0
 */
export type ActorError = MailboxFull | MailboxClosed | AskTimeout | ActorStopped | InvalidOptions | RestartIntensityExceeded
