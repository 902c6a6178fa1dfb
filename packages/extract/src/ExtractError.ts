/**
 * The typed failure of an extraction.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why an extraction failed:
 * - `Empty`: no bytes, or only whitespace.
 * - `Binary`: the input is not text (NUL bytes or mostly control characters:
 *   an image, a PDF, a gzip body served as HTML).
 * - `TooLarge`: more than `maxBytes`.
 * - `InvalidRule`: a target rule has a selector or pattern we cannot use.
 *
 * Truncated pages, invalid JSON-LD and deep nesting are not errors: the
 * extraction reads what it can and may return a product without a price.
 *
 * @example
 * ```ts
 * import { ExtractError } from "@trawl/extract"
 *
 * const reason: ExtractError.Reason = "Binary"
 * ```
 *
 * @since 0.1.0
 */
export const Reason = Schema.Literals(["Empty", "Binary", "TooLarge", "InvalidRule"])

/**
 * @example
 * ```ts
 * import { ExtractError } from "@trawl/extract"
 *
 * const reason: ExtractError.Reason = "TooLarge"
 * ```
 *
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * An extraction failed for `reason`; `message` says what to fix in one line.
 *
 * @example
 * ```ts
 * import { ExtractError } from "@trawl/extract"
 *
 * const error = new ExtractError.ExtractError({ reason: "Empty", url: "https://shop.example/", message: "the page is empty" })
 * error._tag // "ExtractError"
 * ```
 *
 * @since 0.1.0
 */
export class ExtractError extends Schema.TaggedError<ExtractError>("@trawl/extract/ExtractError")("ExtractError", {
  reason: Reason,
  url: Schema.String,
  message: Schema.String
}) {}
