/**
 * The JSON a user sees for an extracted product (`trawl extract`, exports):
 * prices as exact decimal strings, never floats.
 *
 * @since 0.1.0
 */
import type { Price, Product } from "@trawl/extract"

const price = (value: Price.Price | undefined): string | undefined => value?.amount

/**
 * Renders a product as plain JSON.
 *
 * @example
 * ```ts
 * import { ProductJson } from "@trawl/scraper"
 * import type { Product } from "@trawl/extract"
 *
 * declare const product: Product.Product
 * console.log(JSON.stringify(ProductJson.render(product), null, 2))
 * ```
 * @since 0.1.0
 */
export const render = (product: Product.Product): Record<string, unknown> => ({
  url: product.url,
  name: product.name,
  price: price(product.price),
  high: price(product.high),
  regular: price(product.regular),
  currency: product.currency,
  ...(product.currencyCandidates === undefined ? {} : { currencyCandidates: product.currencyCandidates }),
  availability: product.availability,
  sku: product.sku,
  gtin: product.gtin,
  source: product.source,
  confidence: product.confidence,
  candidates: product.candidates.map((candidate) => ({
    source: candidate.source,
    detail: candidate.detail,
    confidence: candidate.confidence,
    name: candidate.name,
    price: price(candidate.price),
    high: price(candidate.high),
    regular: price(candidate.regular),
    currency: candidate.currency,
    availability: candidate.availability
  })),
  notes: product.notes,
  ambiguity: product.ambiguity === null
    ? null
    : {
      reason: product.ambiguity.reason,
      detail: product.ambiguity.detail,
      candidates: product.ambiguity.candidates.map((candidate) => ({
        source: candidate.source,
        detail: candidate.detail,
        confidence: candidate.confidence,
        price: price(candidate.price),
        currency: candidate.currency
      }))
    }
})
