/**
 * The reply channel an `ask` puts into its message. The behaviour answers
 * through it exactly once; answers after the asker timed out are dropped.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const TypeId = "~@trawl/actor/Reply" as const

/**
 * A reply channel for a value `A` or a typed failure `E`.
 *
 * @since 0.1.0
 */
export interface Reply<in A, in E = never> {
  readonly [TypeId]: typeof TypeId
  /** Phantom: the reply types. */
  readonly "~reply"?: ((a: A, e: E) => void) | undefined
}

/** @internal */
export class ReplyImpl<A, E> implements Reply<A, E> {
  readonly [TypeId] = TypeId
  settled = false
  result: Exit.Exit<A, E> | undefined = undefined
  resume: ((exit: Exit.Exit<A, E>) => void) | undefined = undefined
  /** The ask's timeout timer on the fast path, cleared as soon as the ask settles. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined

  clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  complete(exit: Exit.Exit<A, E>): boolean {
    if (this.settled) return false
    this.settled = true
    this.clearTimer()
    if (this.resume === undefined) {
      this.result = exit
    } else {
      const resume = this.resume
      this.resume = undefined
      resume(exit)
    }
    return true
  }
}

/**
 * Completes the ask with an exit. Succeeds with `false` when the asker is gone
 * (timed out, interrupted, or already answered): the reply is dropped.
 *
 * @example
 * ```ts
 * import { Exit } from "effect"
 * import { Reply } from "@trawl/actor"
 *
 * declare const reply: Reply.Reply<number>
 * const answered = Reply.complete(reply, Exit.succeed(42))
 * ```
 * @since 0.1.0
 */
export const complete = <A, E>(self: Reply<A, E>, exit: Exit.Exit<A, E>): Effect.Effect<boolean> =>
  Effect.sync(() => (self as ReplyImpl<A, E>).complete(exit))

/**
 * Answers the ask with a value.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Behavior, Reply } from "@trawl/actor"
 *
 * type Get = { readonly reply: Reply.Reply<number> }
 * const behavior = Behavior.stateful(7, (n: number, msg: Get) => Effect.as(Reply.succeed(msg.reply, n), n))
 * ```
 * @since 0.1.0
 */
export const succeed = <A, E>(self: Reply<A, E>, value: NoInfer<A>): Effect.Effect<boolean> =>
  complete(self, Exit.succeed(value))

/**
 * Answers the ask with a typed failure.
 *
 * @example
 * ```ts
 * import { Reply } from "@trawl/actor"
 *
 * declare const reply: Reply.Reply<number, "not-found">
 * const answered = Reply.fail(reply, "not-found")
 * ```
 * @since 0.1.0
 */
export const fail = <A, E>(self: Reply<A, E>, error: NoInfer<E>): Effect.Effect<boolean> =>
  complete(self, Exit.fail(error))
