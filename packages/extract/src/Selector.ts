/**
 * Checking a rule's CSS selector before saving it.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Internal from "./internal/selector.ts"

/**
 * Validates a CSS selector against the supported grammar (type, `#id`,
 * `.class`, attribute selectors, combinators, lists, `:not`, `:first-child`,
 * `:last-child`, `:only-child`, `:nth-child`, `:nth-of-type`,
 * `:first-of-type`, `:last-of-type`, `:contains`). Fails with a message
 * naming the position of the problem.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Selector } from "@trawl/extract"
 *
 * Result.isSuccess(Selector.validate(".price > span")) // true
 * Result.isFailure(Selector.validate("a::before")) // true
 * ```
 *
 * @since 0.1.0
 */
export const validate = (selector: string): Result.Result<string, string> => {
  try {
    Internal.compile(selector)
    return Result.succeed(selector)
  } catch (error) {
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}
