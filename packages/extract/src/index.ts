/**
 * @trawl/extract — product and price extraction from shop pages.
 *
 * @since 0.1.0
 */

/**
 * `extractProduct`, its options, limits and confidence rules.
 *
 * @since 0.1.0
 */
export * as Extract from "./Extract.ts"

/**
 * The typed extraction failure.
 *
 * @since 0.1.0
 */
export * as ExtractError from "./ExtractError.ts"

/**
 * Exact prices and `parsePrice`.
 *
 * @since 0.1.0
 */
export * as Price from "./Price.ts"

/**
 * `Product`, `Candidate`, `Availability`, `Source`.
 *
 * @since 0.1.0
 */
export * as Product from "./Product.ts"

/**
 * A target's extraction rules.
 *
 * @since 0.1.0
 */
export * as Rules from "./Rules.ts"

/**
 * A small CSS selector engine over the compact DOM, exposed for rule
 * validation in user interfaces.
 *
 * @since 0.1.0
 */
export * as Selector from "./Selector.ts"

export {
  /**
   * `Extract.extractProduct`, re-exported for convenience.
   *
   * @example
   * ```ts
   * import { extractProduct } from "@trawl/extract"
   *
   * const program = extractProduct("<meta property=\"og:price:amount\" content=\"5\">", { url: "https://shop.example/p" })
   * ```
   *
   * @since 0.1.0
   */
  extractProduct
} from "./Extract.ts"
export {
  /**
   * `Price.parsePrice`, re-exported for convenience.
   *
   * @example
   * ```ts
   * import { parsePrice } from "@trawl/extract"
   *
   * parsePrice("1 234,56 zł") // Option.some(ParsedPrice { price: 1234.56, currency: "PLN", … })
   * ```
   *
   * @since 0.1.0
   */
  parsePrice
} from "./Price.ts"
