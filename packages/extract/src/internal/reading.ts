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
}

/** Page-level facts every source may use to read prices. */
export interface PageContext {
  readonly url: string
  /** The target's configured currency, or the page's declared one. */
  readonly currency: string | undefined
  /** The site's locale: configured, `<html lang>`, `og:locale`, or the URL's TLD. */
  readonly locale: string | undefined
}
