/**
 * The product an extraction yields, and every candidate it considered.
 *
 * These are `effect/Schema` classes so that a worker thread can send them
 * across the thread boundary (encode, post, decode) without loss: prices are
 * decimal strings and bigint minor units, never floats.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
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
 * Why a page's price could not be decided:
 *
 * - `sources-disagree`: two sources found different prices and trust them about
 *   equally (confidence within {@link AMBIGUITY_MARGIN}), e.g. JSON-LD 19.99 and
 *   microdata 24.99;
 * - `fallback-contradicts-primary`: a JSON-LD block is broken, its text names a
 *   price, and the fallback that would win (meta tags, platform markup: trusted no
 *   more than such a fragment) names another;
 * - `several-offers`: one source describes several products with different prices
 *   and none of them is identifiable as the page's own.
 *
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * const reason: Product.AmbiguityReason = "several-offers"
 * ```
 *
 * @since 0.4.0
 */
export const AmbiguityReason = Schema.Literals(["sources-disagree", "fallback-contradicts-primary", "several-offers"])

/**
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * const reason: Product.AmbiguityReason = "sources-disagree"
 * ```
 *
 * @since 0.4.0
 */
export type AmbiguityReason = typeof AmbiguityReason.Type

/**
 * How close (in confidence) two disagreeing sources must be for the reading to
 * be `sources-disagree` rather than the more trusted one's: the gap between
 * neighbours in the order of trust (JSON-LD 0.9, microdata 0.85, RDFa 0.8,
 * meta 0.75). A wider gap (JSON-LD over meta) is a decision, not a tie.
 *
 * @example
 * ```ts
 * import { Product } from "@trawl/extract"
 *
 * Product.AMBIGUITY_MARGIN // 0.05
 * ```
 *
 * @since 0.4.0
 */
export const AMBIGUITY_MARGIN = 0.05

/**
 * A reading that could not be decided: why (`reason`), one line for people
 * (`detail`), and the prices in contention (`candidates`, each with its price,
 * currency, source, detail and confidence; most trusted first). For
 * `several-offers` they are the products of one source (`detail` names each);
 * for `fallback-contradicts-primary` the first is the price read from the broken
 * block's text (`detail` says so), which is not a reading of its own and so is
 * not among `Product.candidates`.
 *
 * @example
 * ```ts
 * import { Price, Product } from "@trawl/extract"
 *
 * const ambiguity = new Product.Ambiguity({
 *   reason: "sources-disagree",
 *   detail: "json-ld says 19.99 EUR, microdata says 24.99 EUR",
 *   candidates: [
 *     new Product.Candidate({ source: "json-ld", detail: "JSON-LD block 1 product", confidence: 0.75, price: Price.fromDecimal("19.99", "EUR"), currency: "EUR" }),
 *     new Product.Candidate({ source: "microdata", detail: "microdata item 1 product", confidence: 0.7, price: Price.fromDecimal("24.99", "EUR"), currency: "EUR" })
 *   ]
 * })
 * ```
 *
 * @since 0.4.0
 */
export class Ambiguity extends Schema.Class<Ambiguity>("@trawl/extract/Ambiguity")({
  reason: AmbiguityReason,
  detail: Schema.String,
  candidates: Schema.Array(Candidate)
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
 * - `ambiguity`: `null` when the price was decided; otherwise the page disagrees
 *   with itself (see {@link Ambiguity}) and `price`, `high`, `regular` and `source`
 *   are absent and `confidence` is 0, so no guessed price can be used downstream.
 *   Not disagreements: an `AggregateOffer` or variants' low–high range, a sale
 *   price beside its regular price, a price inside another source's range,
 *   ambiguous currency symbols (`currencyCandidates`), a page with one product
 *   beside related ones nested in it or in lists, the target's own `rules`
 *   (they overrule the page). Optional in the constructor (default `null`).
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
  notes: Schema.Array(Schema.String),
  // a constructor default, so products built before ambiguity existed (tests, tools) still construct
  ambiguity: Schema.NullOr(Ambiguity).pipe(Schema.withConstructorDefault(Effect.succeed(null)))
}) {}
