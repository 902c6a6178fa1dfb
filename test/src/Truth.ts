/**
 * The ground truth of the simulated web, as pure functions of a `World` and
 * a sim-time: which shops exist, what each serves, every product's price and
 * availability at any instant, and what a correct fetcher + extractor should
 * make of each product URL (a price, or the tag of the typed error it should
 * fail with).
 *
 * The sim-web server renders its pages from these same functions, so a test
 * can compare what it observed with `productAt` / `lookup` without asking the
 * server.
 *
 * @since 0.1.0
 */
import * as Hash from "./internal/hash.ts"
import type { World } from "./World.ts"

const P = Hash.Purpose

/**
 * The domain every shop lives under; clients resolve `*.sim.test` to 127.0.0.1.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const resolve = { [`*.${Truth.domain}`]: "127.0.0.1" }
 * ```
 * @since 0.1.0
 */
export const domain = "sim.test"

/**
 * The host of the admin endpoints (`/__truth`, `/__clock`, `/__stats`, `/__world`).
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const headers = { host: `${Truth.adminHost}:8080` }
 * ```
 * @since 0.1.0
 */
export const adminHost = `admin.${domain}`

/**
 * Shop software whose page template a shop uses; `generic` shops mix markup styles.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const platform: Truth.Platform = Truth.shop(World.make({ seed: 1, shops: 5 }), 0).platform
 * ```
 * @since 0.1.0
 */
export type Platform = "generic" | "shopify" | "woocommerce" | "magento" | "prestashop"

/**
 * How a product page carries its price.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const usesJsonLd = (style: Truth.Style) => style.startsWith("jsonld")
 * ```
 * @since 0.1.0
 */
export type Style =
  | "jsonld"
  | "jsonld-graph"
  | "jsonld-aggregate"
  | "jsonld-productgroup"
  | "microdata"
  | "rdfa"
  | "opengraph"
  | "broken-jsonld"
  | "shopify"
  | "woocommerce"
  | "magento"
  | "prestashop"

/**
 * Every style, in a fixed order.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * Truth.styles.includes("microdata") // true
 * ```
 * @since 0.1.0
 */
export const styles: ReadonlyArray<Style> = [
  "jsonld",
  "jsonld-graph",
  "jsonld-aggregate",
  "jsonld-productgroup",
  "microdata",
  "rdfa",
  "opengraph",
  "broken-jsonld",
  "shopify",
  "woocommerce",
  "magento",
  "prestashop"
]

/**
 * The charset a shop encodes its pages in (declared in `Content-Type` and `<meta charset>`).
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const legacy = (charset: Truth.Charset) => charset !== "utf-8"
 * ```
 * @since 0.1.0
 */
export type Charset = "utf-8" | "windows-1252" | "iso-8859-1"

/**
 * How a hostile shop's product pages misbehave.
 *
 * - `slowloris`: the response head trickles one byte at a time and never ends.
 * - `endless-body`: a 200 whose body never ends.
 * - `gzip-bomb`: a small gzip body that inflates to 128 MiB.
 * - `redirect-loop`: two URLs redirecting to each other.
 * - `huge-jsonld`: a valid 3 MiB page, almost all JSON-LD; the price is still right.
 * - `wrong-charset`: a charset no decoder knows.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const kind: Truth.HostileKind | undefined = Truth.shop(World.make({ seed: 1, shops: 5, hostileFraction: 1 }), 0).hostile
 * ```
 * @since 0.1.0
 */
export type HostileKind = "slowloris" | "endless-body" | "gzip-bomb" | "redirect-loop" | "huge-jsonld" | "wrong-charset"

/**
 * Every hostile kind, in a fixed order.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * Truth.hostileKinds.length // 6
 * ```
 * @since 0.1.0
 */
export const hostileKinds: ReadonlyArray<HostileKind> = [
  "slowloris",
  "endless-body",
  "gzip-bomb",
  "redirect-loop",
  "huge-jsonld",
  "wrong-charset"
]

/**
 * Stock state, named as schema.org's `ItemAvailability` values.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const schemaOrg = (availability: Truth.Availability) => `https://schema.org/${availability}`
 * ```
 * @since 0.1.0
 */
export type Availability = "InStock" | "OutOfStock"

/**
 * Tags of the typed errors a correct fetcher produces for hostile or
 * forbidden URLs (the `_tag`s of `@trawl/fetch`'s `FetchError`).
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const isPoliteness = (tag: Truth.ErrorTag) => tag === "RobotsDisallowed"
 * ```
 * @since 0.1.0
 */
export type ErrorTag = "Timeout" | "BodyTooLarge" | "DecompressionBomb" | "TooManyRedirects" | "BadCharset" | "RobotsDisallowed"

/**
 * What a correct fetcher + extractor makes of a product URL at an instant.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * const describe = (expected: Truth.Expected) =>
 *   expected._tag === "Price" ? `${expected.price} ${expected.currency}` : expected.error
 * ```
 * @since 0.1.0
 */
export type Expected =
  | {
    readonly _tag: "Price"
    /** Exact decimal string in the currency's minor unit, e.g. `"12.99"` or `"1500"` (JPY). */
    readonly price: string
    readonly currency: string
    readonly availability: Availability
  }
  | { readonly _tag: "Error"; readonly error: ErrorTag; readonly reason: string }

/**
 * A shop's fixed traits.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const shop: Truth.Shop = Truth.shop(World.make({ seed: 1, shops: 5 }), 2)
 * shop.crawlDelaySeconds // undefined, 1 or 2
 * ```
 * @since 0.1.0
 */
export interface Shop {
  readonly index: number
  readonly host: string
  readonly platform: Platform
  readonly currency: string
  readonly charset: Charset
  readonly hostile: HostileKind | undefined
  /** Median response delay; each response draws from a log-normal around it. */
  readonly latencyMedianMillis: number
  /** Share of product requests answered with 503, 429 + Retry-After or a reset (never twice in a row per URL). */
  readonly errorRate: number
  /** `true`: robots.txt disallows `/outlet/` (where some of its products live). */
  readonly disallowOutlet: boolean
  readonly crawlDelaySeconds: number | undefined
  readonly products: number
}

/**
 * A product's fixed traits.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const product: Truth.Product = Truth.product(World.make({ seed: 1, shops: 5 }), 2, 0)
 * product.path // "/products/…-0"
 * ```
 * @since 0.1.0
 */
export interface Product {
  readonly shop: number
  readonly index: number
  readonly host: string
  /** Path of the product page, e.g. `/products/acme-kettle-k-372-3`. */
  readonly path: string
  /** `http://<host><path>`, without a port: add the server's port to fetch it. */
  readonly url: string
  readonly name: string
  readonly style: Style
  readonly currency: string
  /** Price level the moving price varies around, in minor units. */
  readonly baseMinor: number
  /** `true`: the price (and stock) changes every `periodSteps` steps. */
  readonly volatile: boolean
  readonly periodSteps: number
  readonly phase: number
  /** `true`: pages also show a struck-through "was" price above the current one. */
  readonly onSale: boolean
  /** Under `/outlet/`, which the shop's robots.txt may disallow. */
  readonly outlet: boolean
  readonly alwaysOutOfStock: boolean
  /** Target size of the rendered page in bytes (20 – 300 KB). */
  readonly sizeBytes: number
}

/**
 * A product at an instant: its traits, its state, and the expected outcome of fetching it.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const truth: Truth.ProductTruth = Truth.productAt(World.make({ seed: 1, shops: 5 }), 2, 0, Date.now())
 * truth.price // e.g. "12.99"
 * ```
 * @since 0.1.0
 */
export interface ProductTruth extends Product {
  readonly atMillis: number
  readonly price: string
  readonly priceMinor: number
  readonly availability: Availability
  /** Increases by one at every change of price or stock; part of the page's ETag. */
  readonly version: number
  /** Sim-time at which the current version began. */
  readonly lastModifiedMillis: number
  readonly expected: Expected
}

const currencies: ReadonlyArray<readonly [string, number, number]> = [
  // code, decimals, weight
  ["EUR", 2, 40],
  ["USD", 2, 25],
  ["GBP", 2, 12],
  ["CHF", 2, 8],
  ["SEK", 2, 8],
  ["JPY", 0, 7]
]

/**
 * Digits after the decimal point in prices of a currency.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * Truth.currencyDecimals("JPY") // 0
 * ```
 * @since 0.1.0
 */
export const currencyDecimals = (currency: string): number => currencies.find(([code]) => code === currency)?.[1] ?? 2

const pickWeighted = <A>(entries: ReadonlyArray<readonly [A, number]>, u: number): A => {
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0)
  let at = u * total
  for (const [value, weight] of entries) {
    if (at < weight) return value
    at -= weight
  }
  return entries[entries.length - 1]![0]
}

/**
 * The host name of shop `index`: `shop-00042.sim.test`.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * Truth.shopHost(42) // "shop-00042.sim.test"
 * ```
 * @since 0.1.0
 */
export const shopHost = (index: number): string => `shop-${String(index).padStart(5, "0")}.${domain}`

const checkIndex = (what: string, index: number, count: number) => {
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`${what} index ${index} is outside 0..${count - 1}`)
  }
}

/**
 * The fixed traits of shop `index` (throws `RangeError` outside `0 … shops-1`).
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const shop = Truth.shop(World.make({ seed: 1, shops: 10 }), 3)
 * shop.host // "shop-00003.sim.test"
 * ```
 * @since 0.1.0
 */
export const shop = (world: World, index: number): Shop => {
  checkIndex("shop", index, world.shops)
  const seed = world.seed
  const hostile = Hash.unit(seed, P.shopHostile, index) < world.hostileFraction
    ? hostileKinds[Hash.below(hostileKinds.length, seed, P.shopHostileKind, index)]
    : undefined
  const platform = pickWeighted<Platform>(
    [["generic", 60], ["shopify", 12], ["woocommerce", 12], ["magento", 8], ["prestashop", 8]],
    Hash.unit(seed, P.shopPlatform, index)
  )
  const currency = pickWeighted(currencies.map(([code, , weight]) => [code, weight] as const), Hash.unit(seed, P.shopCurrency, index))
  const charset = pickWeighted<Charset>(
    [["utf-8", 80], ["windows-1252", 12], ["iso-8859-1", 8]],
    Hash.unit(seed, P.shopCharset, index)
  )
  const errorDraw = Hash.unit(seed, P.shopErrorRate, index)
  const delayDraw = Hash.unit(seed, P.shopCrawlDelay, index)
  return {
    index,
    host: shopHost(index),
    platform,
    currency,
    charset,
    hostile,
    latencyMedianMillis: Math.round(5 * Math.pow(30, Hash.unit(seed, P.shopLatency, index))),
    errorRate: errorDraw < 0.7 ? 0 : Math.round((0.02 + 0.13 * ((errorDraw - 0.7) / 0.3)) * 1000) / 1000,
    disallowOutlet: Hash.unit(seed, P.shopRobots, index) < 0.3,
    crawlDelaySeconds: delayDraw < 0.1 ? (delayDraw < 0.05 ? 1 : 2) : undefined,
    products: world.products
  }
}

const brands = [
  "Acme", "Nordlys", "Müller & Söhne", "Café Crème", "Zephyr", "Øresund", "Blåbær", "Fjällräv", "Señor Pico",
  "Kraftwerk", "Bellevue", "Gärtner", "Île Verte", "Hábito", "Lumière", "Tusk", "Quokka", "Größenwahn"
]
const adjectives = [
  "Compact", "Deluxe", "Classic", "Pro", "Ultra", "Eco", "Smart", "Mini", "Grand", "Rustic", "Naïve", "Sturdy",
  "Silent", "Rapid", "Soft", "Cordless"
]
const nouns = [
  "Kettle", "Toaster", "Backpack", "Lamp", "Chair", "Blender", "Headphones", "Jacket", "Sneakers", "Drill",
  "Mug", "Tent", "Umbrella", "Watch", "Keyboard", "Frying Pan", "Pillow", "Scooter", "Crêpe Maker", "Espresso Machine"
]

const slugify = (text: string): string =>
  text.replace(/ß/g, "ss").replace(/[øØ]/g, "o").replace(/[æÆ]/g, "ae").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")

const genericStyles: ReadonlyArray<readonly [Style, number]> = [
  ["jsonld", 20],
  ["jsonld-graph", 12],
  ["jsonld-aggregate", 8],
  ["jsonld-productgroup", 6],
  ["microdata", 14],
  ["rdfa", 8],
  ["opengraph", 12],
  ["broken-jsonld", 8]
]

/**
 * The fixed traits of product `index` of a shop (throws `RangeError` on bad indexes).
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const product = Truth.product(World.make({ seed: 1, shops: 10 }), 3, 0)
 * product.url.startsWith("http://shop-00003.sim.test/") // true
 * ```
 * @since 0.1.0
 */
export const product = (world: World, shopIndex: number, index: number): Product => {
  const owner = shop(world, shopIndex)
  checkIndex("product", index, world.products)
  const seed = world.seed
  const at = (purpose: number) => Hash.unit(seed, purpose, shopIndex, index)
  const nameDraw = Hash.hash(seed, P.productName, shopIndex, index)
  const name = `${brands[nameDraw % brands.length]} ${adjectives[(nameDraw >>> 8) % adjectives.length]} ${
    nouns[(nameDraw >>> 16) % nouns.length]
  } ${String.fromCharCode(65 + (nameDraw >>> 24) % 26)}-${100 + index}`
  const outlet = owner.disallowOutlet && at(P.productOutlet) < 0.25
  const path = `${outlet ? "/outlet" : ""}/products/${slugify(name)}-${index}`
  // A huge-JSON-LD shop puts its enormous block in plain `jsonld` pages.
  const style: Style = owner.hostile === "huge-jsonld"
    ? "jsonld"
    : owner.platform === "generic"
    ? pickWeighted(genericStyles, at(P.productStyle))
    : owner.platform
  const decimals = currencyDecimals(owner.currency)
  const baseMinor = decimals === 0
    ? Math.round(300 * Math.pow(600, at(P.productBase)))
    : Math.round(199 * Math.pow(1000, at(P.productBase)))
  const volatile = at(P.productVolatile) < world.changeFraction
  const periodSteps = volatile ? 1 + Hash.below(4, seed, P.productPeriod, shopIndex, index) : 1
  return {
    shop: shopIndex,
    index,
    host: owner.host,
    path,
    url: `http://${owner.host}${path}`,
    name,
    style,
    currency: owner.currency,
    baseMinor,
    volatile,
    periodSteps,
    phase: Hash.below(periodSteps, seed, P.productPhase, shopIndex, index),
    onSale: at(P.productSale) < 0.3,
    outlet,
    alwaysOutOfStock: !volatile && at(P.productAlwaysOut) < 0.05,
    sizeBytes: Math.round(20_480 * Math.pow(15, at(P.productSize)))
  }
}

/**
 * A price in minor units as an exact decimal string.
 *
 * @example
 * ```ts
 * import { Truth } from "@trawl/harness"
 * Truth.formatMinor(1299, "EUR") // "12.99"
 * Truth.formatMinor(1500, "JPY") // "1500"
 * ```
 * @since 0.1.0
 */
export const formatMinor = (minor: number, currency: string): string => {
  const decimals = currencyDecimals(currency)
  if (decimals === 0) return String(minor)
  const unit = 10 ** decimals
  return `${Math.floor(minor / unit)}.${String(minor % unit).padStart(decimals, "0")}`
}

const versionAt = (world: World, item: Product, atMillis: number): number => {
  if (!item.volatile) return 0
  const step = Math.floor(atMillis / world.stepMillis)
  return Math.floor((step + item.phase) / item.periodSteps)
}

const fixedLastModified = (world: World, item: Product): number =>
  Date.UTC(2025, 0, 1) + Hash.below(365, world.seed, P.productBase, item.shop, item.index, 7) * 86_400_000

const stateOf = (world: World, item: Product, version: number) => {
  // Consecutive versions differ in parity of the offset, so every version step is a price change.
  const offset = 2 * Hash.below(10, world.seed, P.productOffset, item.shop, item.index, version | 0) + Math.abs(version % 2)
  const priceMinor = Math.round(item.baseMinor * (0.81 + 0.02 * offset))
  const availability: Availability = item.alwaysOutOfStock ||
      (item.volatile && Hash.unit(world.seed, P.productStock, item.shop, item.index, version | 0) < 0.15)
    ? "OutOfStock"
    : "InStock"
  const lastModifiedMillis = item.volatile
    ? (version * item.periodSteps - item.phase) * world.stepMillis
    : fixedLastModified(world, item)
  return { priceMinor, availability, lastModifiedMillis }
}

const expectedOf = (owner: Shop, item: Product, price: string, availability: Availability): Expected => {
  if (item.outlet) {
    return { _tag: "Error", error: "RobotsDisallowed", reason: "robots.txt disallows /outlet/" }
  }
  switch (owner.hostile) {
    case "slowloris":
      return { _tag: "Error", error: "Timeout", reason: "the response head never ends" }
    case "endless-body":
      return { _tag: "Error", error: "BodyTooLarge", reason: "the body never ends" }
    case "gzip-bomb":
      return { _tag: "Error", error: "DecompressionBomb", reason: "the gzip body inflates to 128 MiB" }
    case "redirect-loop":
      return { _tag: "Error", error: "TooManyRedirects", reason: "two URLs redirect to each other" }
    case "wrong-charset":
      return { _tag: "Error", error: "BadCharset", reason: "the declared charset does not exist" }
    default:
      return { _tag: "Price", price, currency: item.currency, availability }
  }
}

/**
 * A product at sim-time `atMillis`: traits, price, stock, version and the
 * expected outcome of fetching it. Pure: the same arguments give the same
 * answer in every process. Throws `RangeError` on bad indexes.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const world = World.make({ seed: 42, shops: 100 })
 * const truth = Truth.productAt(world, 7, 3, Date.UTC(2026, 0, 1))
 * truth.expected._tag // "Price" or "Error"
 * ```
 * @since 0.1.0
 */
export const productAt = (world: World, shopIndex: number, productIndex: number, atMillis: number): ProductTruth => {
  const item = product(world, shopIndex, productIndex)
  const owner = shop(world, shopIndex)
  const version = versionAt(world, item, atMillis)
  const state = stateOf(world, item, version)
  const price = formatMinor(state.priceMinor, item.currency)
  return {
    ...item,
    atMillis,
    price,
    priceMinor: state.priceMinor,
    availability: state.availability,
    version,
    lastModifiedMillis: state.lastModifiedMillis,
    expected: expectedOf(owner, item, price, state.availability)
  }
}

/**
 * Which shop and product a URL (or host + path) names, or `undefined`. The
 * port is ignored; the slug must be exactly the product's.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const world = World.make({ seed: 1, shops: 10 })
 * const { url } = Truth.product(world, 2, 5)
 * Truth.locate(world, url) // { shop: 2, product: 5 }
 * ```
 * @since 0.1.0
 */
export const locate = (world: World, url: string): { readonly shop: number; readonly product: number } | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  return locatePath(world, parsed.hostname, parsed.pathname)
}

/**
 * Like `locate`, from a host name (no port) and a path.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * Truth.locatePath(World.make({ seed: 1, shops: 10 }), "shop-00002.sim.test", "/nope") // undefined
 * ```
 * @since 0.1.0
 */
export const locatePath = (
  world: World,
  host: string,
  path: string
): { readonly shop: number; readonly product: number } | undefined => {
  const shopIndex = shopIndexOf(world, host)
  if (shopIndex === undefined) return undefined
  const match = /^\/(?:outlet\/)?products\/[a-z0-9-]*-(\d{1,5})$/.exec(path)
  if (match === null) return undefined
  const productIndex = Number(match[1])
  if (productIndex >= world.products) return undefined
  return product(world, shopIndex, productIndex).path === path ? { shop: shopIndex, product: productIndex } : undefined
}

/**
 * The shop index of a host name (`shop-00042.sim.test` → 42), or `undefined`.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * Truth.shopIndexOf(World.make({ seed: 1, shops: 100 }), "shop-00042.sim.test") // 42
 * ```
 * @since 0.1.0
 */
export const shopIndexOf = (world: World, host: string): number | undefined => {
  const match = /^shop-(\d{5,7})\.sim\.test$/.exec(host.toLowerCase())
  if (match === null) return undefined
  const index = Number(match[1])
  return index < world.shops && shopHost(index) === host.toLowerCase() ? index : undefined
}

/**
 * The product a URL names at sim-time `atMillis`, or `undefined` for a URL
 * that is not a product page of this world.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const world = World.make({ seed: 1, shops: 10 })
 * Truth.lookup(world, Truth.product(world, 1, 1).url, Date.now())?.price
 * ```
 * @since 0.1.0
 */
export const lookup = (world: World, url: string, atMillis: number): ProductTruth | undefined => {
  const found = locate(world, url)
  return found === undefined ? undefined : productAt(world, found.shop, found.product, atMillis)
}

/**
 * Every change of a product's price in `(fromMillis, toMillis]`, oldest first,
 * at most `limit` (default 10,000). Each entry is the product right after the
 * change. Stable products have none.
 *
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * const world = World.make({ seed: 1, shops: 10 })
 * const hour = 3_600_000
 * Truth.changes(world, 0, 0, 0, hour).length >= 0 // true
 * ```
 * @since 0.1.0
 */
export const changes = (
  world: World,
  shopIndex: number,
  productIndex: number,
  fromMillis: number,
  toMillis: number,
  limit = 10_000
): ReadonlyArray<ProductTruth> => {
  const item = product(world, shopIndex, productIndex)
  const out: Array<ProductTruth> = []
  if (!item.volatile || toMillis <= fromMillis) return out
  let version = versionAt(world, item, fromMillis) + 1
  const last = versionAt(world, item, toMillis)
  for (; version <= last && out.length < limit; version++) {
    const startMillis = (version * item.periodSteps - item.phase) * world.stepMillis
    out.push(productAt(world, shopIndex, productIndex, startMillis))
  }
  return out
}
