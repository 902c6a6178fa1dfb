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
   * @since 0.1.0
   */
  extractProduct
} from "./Extract.ts"
export {
  /**
   * @since 0.1.0
   */
  parsePrice
} from "./Price.ts"
