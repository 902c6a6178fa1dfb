import type { Price } from "../Price.ts"
import type { Availability } from "../Product.ts"

/** What one source read from the page (before trust and confidence are applied). */
export interface Reading {
  detail: string
  name?: string | undefined
  price?: Price | undefined
  high?: Price | undefined
  regular?: Price | undefined
  currency?: string | undefined
  currencyCandidates?: ReadonlyArray<string> | undefined
  availability?: Availability | undefined
  sku?: string | undefined
  gtin?: string | undefined
  /**
   * Several products of this source, with different prices, none identifiable
   * as the page's own: the reading itself then has no price (nor name, sku,
   * availability), and these are the products in contention.
   */
  rivals?: ReadonlyArray<Reading> | undefined
}

/** Page-level facts every source may use to read prices. */
export interface PageContext {
  readonly url: string
  /** The target's configured currency, or the page's declared one. */
  readonly currency: string | undefined
  /** The site's locale: configured, `<html lang>`, `og:locale`, or the URL's TLD. */
  readonly locale: string | undefined
  /** Other URLs the page names as its own (`<link rel=canonical>`, `og:url`). */
  readonly aliases?: ReadonlyArray<string> | undefined
  /** What the page calls its product: the first `<h1>`, `og:title`, `<title>`. */
  readonly titles?: ReadonlyArray<string> | undefined
}
