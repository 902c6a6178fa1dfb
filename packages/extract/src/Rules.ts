/**
 * A target's own extraction rules: the most trusted source.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * One rule for one field.
 *
 * - `selector`: a CSS selector (see `Selector` for the supported grammar);
 *   the first matching element is read.
 * - `attribute`: read this attribute of the element instead of its text
 *   (`content`, `data-price`).
 * - `pattern`: a regular expression; with a selector it runs on the
 *   element's value, without one on the raw HTML. The first capture group is
 *   the value (the whole match when there is no group).
 *
 * At least one of `selector` and `pattern` is needed.
 *
 * @example
 * ```ts
 * import { Rules } from "@trawl/extract"
 *
 * const rule = new Rules.Rule({ selector: "#price", attribute: "data-amount" })
 * ```
 *
 * @since 0.1.0
 */
export class Rule extends Schema.Class<Rule>("@trawl/extract/Rule")({
  selector: Schema.optional(Schema.String),
  attribute: Schema.optional(Schema.String),
  pattern: Schema.optional(Schema.String)
}) {}

/**
 * Rules for a target, one per field. `currency` is read as text (a symbol or
 * an ISO code); `availability` as text matched against the usual words
 * (`in stock`, `sold out`, `schema.org/InStock`, …).
 *
 * @example
 * ```ts
 * import { Rules } from "@trawl/extract"
 *
 * const rules = new Rules.Rules({ price: new Rules.Rule({ selector: ".price-now" }) })
 * ```
 *
 * @since 0.1.0
 */
export class Rules extends Schema.Class<Rules>("@trawl/extract/Rules")({
  price: Schema.optional(Rule),
  name: Schema.optional(Rule),
  currency: Schema.optional(Rule),
  availability: Schema.optional(Rule),
  sku: Schema.optional(Rule),
  gtin: Schema.optional(Rule)
}) {}
