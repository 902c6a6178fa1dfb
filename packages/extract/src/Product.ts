/**
 * The product an extraction yields, and every candidate it considered.
 *
 * These are `effect/Schema` classes so that a worker thread can send them
 * across the thread boundary (encode, post, decode) without loss: prices are
 * decimal strings and bigint minor units, never floats.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { CurrencyCode, Price } from "./Price.ts"

/**
 * Stock status, normalized from schema.org (`https://schema.org/InStock`,
 * `LimitedAvailability`, `SoldOut`, …), OpenGraph (`instock`, `oos`,
 * `pending`) and shop text. `Unknown` when no source says.
 *
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * const availability: Product.Availability = "InStock"
 * ```
 *
 * @since 0.1.0
 */
export const Availability = Schema.Literals(["InStock", "OutOfStock", "PreOrder", "BackOrder", "Discontinued", "Unknown"])

/**
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * const availability: Product.Availability = "OutOfStock"
 * ```
 *
 * @since 0.1.0
 */
export type Availability = typeof Availability.Type

/**
 * Where a candidate came from, in the documented order of trust (most trusted
 * first): the target's own `rules`, `json-ld`, `microdata`, `rdfa`, `meta`
 * (OpenGraph / product meta tags / `itemprop` on meta), then `platform`
 * (Shopify, WooCommerce, Magento, PrestaShop price markup).
 *
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * Product.SOURCE_ORDER[0] // "rules"
 * ```
 *
 * @since 0.1.0
 */
export const Source = Schema.Literals(["rules", "json-ld", "microdata", "rdfa", "meta", "platform"])

/**
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * const source: Product.Source = "json-ld"
 * ```
 *
 * @since 0.1.0
 */
export type Source = typeof Source.Type

/**
 * The order of trust: the first source (in this order) that yields a price wins.
 *
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * Product.SOURCE_ORDER.indexOf("meta") // 4
 * ```
 *
 * @since 0.1.0
 */
export const SOURCE_ORDER: ReadonlyArray<Source> = ["rules", "json-ld", "microdata", "rdfa", "meta", "platform"]

/**
 * One reading of the page by one source. `detail` says where exactly
 * (`JSON-LD block 1 @graph[2] Product`, `rule price: .price-now`), so a user
 * can see why one candidate won. `confidence` is the source's base trust,
 * adjusted (see `Extract.extractProduct`).
 *
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * const candidate = new Product.Candidate({ source: "meta", detail: "og:price:amount", confidence: 0.7 })
 * ```
 *
 * @since 0.1.0
 */
export class Candidate extends Schema.Class<Candidate>("@trawl/extract/Candidate")({
  source: Source,
  detail: Schema.String,
  confidence: Schema.Number,
  name: Schema.optional(Schema.String),
  price: Schema.optional(Price),
  high: Schema.optional(Price),
  regular: Schema.optional(Price),
  currency: Schema.optional(CurrencyCode),
  currencyCandidates: Schema.optional(Schema.Array(CurrencyCode)),
  availability: Schema.optional(Availability),
  sku: Schema.optional(Schema.String),
  gtin: Schema.optional(Schema.String)
}) {}

/**
 * The extracted product.
 *
 * - `price`: what it costs now (the low end of a price range); absent when no
 *   source found a price. `high`: the high end of a range (`AggregateOffer`,
 *   variants, `9.99 – 19.99`). `regular`: the regular price when on sale.
 * - `currency`: ISO 4217; absent when unknown or ambiguous (then
 *   `currencyCandidates` lists the possibilities).
 * - `source` / `confidence`: the winning source and how much to trust it (0–1).
 * - `candidates`: every reading, winner first, then in order of trust.
 * - `notes`: what was skipped or capped (an invalid JSON-LD block, a capped DOM).
 *
 * @example
 * ```ts
 * import { Extract } from "@trawl/extract"
 *
 * const product = Extract.extractProductResult(
 *   `<meta property="og:price:amount" content="9.99"><meta property="og:price:currency" content="EUR">`,
 *   { url: "https://shop.example/p/1" }
 * )
 * ```
 *
 * @since 0.1.0
 */
export class Product extends Schema.Class<Product>("@trawl/extract/Product")({
  url: Schema.String,
  name: Schema.optional(Schema.String),
  price: Schema.optional(Price),
  high: Schema.optional(Price),
  regular: Schema.optional(Price),
  currency: Schema.optional(CurrencyCode),
  currencyCandidates: Schema.optional(Schema.Array(CurrencyCode)),
  availability: Availability,
  sku: Schema.optional(Schema.String),
  gtin: Schema.optional(Schema.String),
  source: Schema.optional(Source),
  confidence: Schema.Number,
  candidates: Schema.Array(Candidate),
  notes: Schema.Array(Schema.String)
}) {}
