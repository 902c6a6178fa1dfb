/**
 * schema.org Product/Offer graphs → one `Reading`. JSON-LD parses to such a
 * graph directly; microdata and RDFa are converted to the same plain-object
 * shape first, so all three share this normalizer.
 */
import * as Price from "../Price.ts"
import type { Availability } from "../Product.ts"
import { normalizeAvailability } from "./availability.ts"
import { allConsistent } from "./consistency.ts"
import { normalizeCurrency } from "./currency.ts"
import type { PageContext, Reading } from "./reading.ts"

type Json = Record<string, unknown>

const MAX_DEPTH = 64
const MAX_NODES = 50_000
const MAX_REPAIR = 1_000_000

const PRODUCT_TYPES = new Set([
  "product", "productgroup", "individualproduct", "productmodel", "someproducts", "vehicle", "car", "book"
])

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const typeName = (type: string): string =>
  type.replace(/^https?:\/\/(?:www\.)?schema\.org\/|^schema:/i, "").toLowerCase()

/** The normalized types of a node (`"https://schema.org/Product"` → `"product"`). */
export const typesOf = (node: Json): Array<string> => {
  const type = node["@type"] ?? node["type"]
  if (typeof type === "string") return [typeName(type)]
  if (Array.isArray(type)) return type.filter((t): t is string => typeof t === "string").map(typeName)
  return []
}

const asArray = (value: unknown): Array<unknown> => (value === undefined || value === null ? [] : Array.isArray(value) ? value : [value])

const text = (value: unknown): string | undefined => {
  for (const item of asArray(value)) {
    if (typeof item === "string") {
      const trimmed = item.replace(/\s+/g, " ").trim()
      if (trimmed !== "") return trimmed
    } else if (typeof item === "number" && Number.isFinite(item)) {
      return String(item)
    } else if (isObject(item)) {
      const inner = text(item["@value"] ?? item["name"])
      if (inner !== undefined) return inner
    }
  }
  return undefined
}

const scalar = (value: unknown): unknown => {
  const first = asArray(value)[0]
  return isObject(first) && "@value" in first ? first["@value"] : first
}

/** Strips a leading HTML comment / CDATA wrapper, then parses; repairs the usual breakage once. */
export const parseJsonLd = (raw: string): unknown => {
  let source = raw.trim()
  source = source.replace(/^(?:\/\/\s*)?<!\[CDATA\[|^\/\*\s*<!\[CDATA\[\s*\*\/|^<!--/, "")
  source = source.replace(/(?:\/\/\s*)?\]\]>$|\/\*\s*\]\]>\s*\*\/$|-->$/, "").trim()
  if (source === "") return undefined
  try {
    return JSON.parse(source)
  } catch {
    // real blocks are kilobytes; a broken megabyte block is not worth a repair pass
    if (source.length > MAX_REPAIR) return undefined
    try {
      return JSON.parse(repairJson(source))
    } catch {
      return undefined
    }
  }
}

/**
 * One linear pass fixing what shop templates commonly break: raw newlines
 * and tabs inside strings, trailing commas, and `//` or block comments.
 */
const repairJson = (source: string): string => {
  let out = ""
  let inString = false
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!
    if (inString) {
      if (c === "\\") {
        out += c + (source[i + 1] ?? "")
        i++
      } else if (c === "\"") {
        inString = false
        out += c
      } else if (c === "\n") out += "\\n"
      else if (c === "\r") out += "\\r"
      else if (c === "\t") out += "\\t"
      else out += c
      continue
    }
    if (c === "\"") {
      inString = true
      out += c
    } else if (c === "/" && source[i + 1] === "/") {
      const end = source.indexOf("\n", i)
      i = end === -1 ? source.length : end - 1
    } else if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2)
      i = end === -1 ? source.length : end + 1
    } else if (c === ",") {
      let j = i + 1
      while (j < source.length && /\s/.test(source[j]!)) j++
      if (source[j] !== "}" && source[j] !== "]") out += c
    } else {
      out += c
    }
  }
  return out
}

interface Found {
  readonly node: Json
  readonly path: string
  readonly depth: number
  readonly order: number
  /** A root of its block, an element of a top-level array or `@graph`: not a property of another node. */
  readonly top: boolean
}

interface Graph {
  readonly products: Array<Found>
  readonly offers: Array<Found>
  readonly ids: Map<string, Json>
  /** Values of `mainEntity` (a `WebPage`'s product), unresolved. */
  readonly mainEntities: Array<unknown>
}

/** Walks every root iteratively (depth- and size-capped), indexing `@id`s, products and offers. */
const collect = (roots: ReadonlyArray<{ readonly value: unknown; readonly label: string }>): Graph => {
  const graph: Graph = { products: [], offers: [], ids: new Map(), mainEntities: [] }
  let visited = 0
  for (const root of roots) {
    const stack: Array<{ value: unknown; path: string; depth: number; top: boolean }> = [
      { value: root.value, path: root.label, depth: 0, top: true }
    ]
    while (stack.length > 0 && visited < MAX_NODES) {
      const { depth, path, top, value } = stack.pop()!
      visited++
      if (depth > MAX_DEPTH) continue
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1, top })
        continue
      }
      if (!isObject(value)) continue
      const id = value["@id"]
      if (typeof id === "string" && !graph.ids.has(id) && Object.keys(value).length > 1) graph.ids.set(id, value)
      const types = typesOf(value)
      const order = visited
      if (types.some((t) => PRODUCT_TYPES.has(t))) graph.products.push({ node: value, path, depth, order, top })
      else if (types.includes("offer") || types.includes("aggregateoffer")) graph.offers.push({ node: value, path, depth, order, top })
      if (value["mainEntity"] !== undefined) graph.mainEntities.push(...asArray(value["mainEntity"]))
      const keys = Object.keys(value)
      for (let k = keys.length - 1; k >= 0; k--) {
        const key = keys[k]!
        const child = value[key]
        if (typeof child === "object" && child !== null) {
          const graphKey = key === "@graph"
          stack.push({ value: child, path: graphKey ? `${path} @graph` : `${path}.${key}`, depth: depth + 1, top: top && graphKey })
        }
      }
    }
  }
  return graph
}

const resolve = (graph: Graph, value: unknown): unknown => {
  if (isObject(value) && typeof value["@id"] === "string" && Object.keys(value).length === 1) {
    return graph.ids.get(value["@id"]) ?? value
  }
  return value
}

const normalizeUrl = (url: string, base: string): string | undefined => {
  try {
    const parsed = new URL(url, base)
    parsed.hash = ""
    return parsed.href.replace(/\/(?=$|\?)/, "")
  } catch {
    return undefined
  }
}

const urlMatches = (candidate: unknown, page: PageContext): boolean => {
  const url = text(candidate)
  if (url === undefined) return false
  const a = normalizeUrl(url, page.url)
  return a !== undefined && a === normalizeUrl(page.url, page.url)
}

interface OfferReading {
  price?: Price.Price | undefined
  high?: Price.Price | undefined
  regular?: Price.Price | undefined
  currency?: string | undefined
  availability?: Availability | undefined
  urlMatch: boolean
}

const REGULAR_TYPES = /listprice|strikethroughprice|srp|msrp|wasprice|regularprice/i

const readOffer = (graph: Graph, offer: Json, page: PageContext): Array<OfferReading> => {
  const types = typesOf(offer)
  const declared = normalizeCurrency(text(offer["priceCurrency"]))
  const currency = declared ?? page.currency
  const availability = normalizeAvailability(text(offer["availability"]))
  const urlMatch = urlMatches(offer["url"], page)
  const out: Array<OfferReading> = []
  let price = Price.fromMachine(scalar(offer["price"]), currency)
  let offerCurrency = declared
  let regular: Price.Price | undefined
  for (const raw of asArray(offer["priceSpecification"])) {
    const spec = resolve(graph, raw)
    if (!isObject(spec)) continue
    const specDeclared = normalizeCurrency(text(spec["priceCurrency"]))
    const specCurrency = specDeclared ?? currency
    const value = Price.fromMachine(scalar(spec["price"] ?? spec["minPrice"]), specCurrency)
    if (value === undefined) continue
    if (REGULAR_TYPES.test(text(spec["priceType"]) ?? "")) regular = value
    else if (price === undefined) {
      price = value
      offerCurrency = specDeclared ?? offerCurrency
    }
  }
  if (types.includes("aggregateoffer")) {
    const low = Price.fromMachine(scalar(offer["lowPrice"]), currency) ?? price
    const high = Price.fromMachine(scalar(offer["highPrice"]), currency)
    if (low !== undefined) {
      out.push({
        price: low,
        high: high !== undefined && Price.compare(high, low) > 0 ? high : undefined,
        currency: offerCurrency ?? page.currency,
        availability,
        urlMatch
      })
    }
    for (const inner of asArray(offer["offers"])) {
      const resolved = resolve(graph, inner)
      if (isObject(resolved)) out.push(...readOffer(graph, resolved, page))
    }
    return out
  }
  if (price !== undefined || availability !== undefined) {
    out.push({ price, regular, currency: offerCurrency ?? page.currency, availability, urlMatch })
  }
  return out
}

/** One price from several offers: the one for this URL, else one price or a low–high range. */
const chooseOffer = (offers: ReadonlyArray<OfferReading>): OfferReading | undefined => {
  const priced = offers.filter((o) => o.price !== undefined)
  if (priced.length === 0) return offers[0]
  const matching = priced.find((o) => o.urlMatch)
  if (matching !== undefined) return matching
  const currency = priced[0]!.currency
  const same = priced.filter((o) => o.currency === currency)
  if (same.length === 1) return same[0]
  let low = same[0]!
  let high = same[0]!.high ?? same[0]!.price!
  for (const offer of same) {
    if (Price.compare(offer.price!, low.price!) < 0) low = offer
    const top = offer.high ?? offer.price!
    if (Price.compare(top, high) > 0) high = top
  }
  const anyInStock = same.some((o) => o.availability === "InStock")
  return {
    ...low,
    high: Price.compare(high, low.price!) > 0 ? high : undefined,
    availability: anyInStock ? "InStock" : low.availability
  }
}

const GTIN_KEYS = ["gtin13", "gtin", "gtin12", "gtin14", "gtin8", "isbn"] as const

const readProduct = (graph: Graph, node: Json, page: PageContext, detail: string, depth = 0): Reading & { urlMatch: boolean } => {
  const offers: Array<OfferReading> = []
  for (const raw of asArray(node["offers"])) {
    const offer = resolve(graph, raw)
    if (isObject(offer)) offers.push(...readOffer(graph, offer, page))
  }
  let chosen = chooseOffer(offers)
  let name = text(node["name"])
  let sku = text(node["sku"]) ?? text(node["productID"])
  let gtin = GTIN_KEYS.map((k) => text(node[k])).find((v) => v !== undefined)
  let urlMatch = urlMatches(node["url"], page) || offers.some((o) => o.urlMatch)
  const variants = depth === 0 ? asArray(node["hasVariant"]).map((v) => resolve(graph, v)).filter(isObject) : []
  if (variants.length > 0 && (chosen === undefined || chosen.price === undefined)) {
    const readings = variants.map((v, i) => readProduct(graph, v, page, `${detail}.hasVariant[${i}]`, depth + 1))
    const priced = readings.filter((r) => r.price !== undefined)
    const matching = priced.find((r) => r.urlMatch || (r.sku !== undefined && page.url.includes(r.sku)))
    if (matching !== undefined) {
      chosen = { ...matching, urlMatch: true }
      name = matching.name ?? name
      sku = matching.sku ?? sku
      gtin = matching.gtin ?? gtin
      urlMatch = true
    } else if (priced.length > 0) {
      chosen = chooseOffer(priced.map((r) => ({ ...r, urlMatch: false })))
    }
  }
  return {
    detail,
    name,
    sku,
    gtin,
    price: chosen?.price,
    high: chosen?.high,
    regular: chosen?.regular,
    currency: chosen?.currency,
    availability: chosen?.availability,
    urlMatch
  }
}

/**
 * The page's main product from schema.org graphs (see `mainProducts`); among
 * those left, a priced one. When those left have prices that contradict each
 * other, the reading has no price and lists them as `rivals` rather than
 * guessing. `roots` are parsed JSON-LD blocks or converted microdata/RDFa items.
 */
export const readGraphs = (
  roots: ReadonlyArray<{ readonly value: unknown; readonly label: string }>,
  page: PageContext
): Reading | undefined => {
  if (roots.length === 0) return undefined
  const graph = collect(roots)
  const variantNodes = new Set<unknown>()
  // a group its variants name (`isVariantOf`) is read through them: their prices are its range
  const namedGroups = new Set<unknown>()
  for (const found of graph.products) {
    for (const v of asArray(found.node["hasVariant"])) variantNodes.add(resolve(graph, v))
    for (const g of asArray(found.node["isVariantOf"])) namedGroups.add(resolve(graph, g))
  }
  const readThroughVariants = (node: Json) =>
    namedGroups.has(node) && node["offers"] === undefined && node["hasVariant"] === undefined
  const readings = graph.products
    .filter((found) => !variantNodes.has(found.node) && !readThroughVariants(found.node))
    .map((found) => ({ found, reading: readProduct(graph, found.node, page, `${found.path} ${typesOf(found.node).join(",")}`) }))
  if (readings.length === 0) {
    // offers without a product around them ("itemOffered" pages, bare Offer blocks)
    const offers = graph.offers.filter((o) => o.depth <= 2)
    const first = offers[0]
    if (first === undefined) return undefined
    const chosen = chooseOffer(readOffer(graph, first.node, page))
    const item = resolve(graph, first.node["itemOffered"])
    return {
      detail: `${first.path} ${typesOf(first.node).join(",")}`,
      name: isObject(item) ? text(item["name"]) : undefined,
      price: chosen?.price,
      high: chosen?.high,
      regular: chosen?.regular,
      currency: chosen?.currency,
      availability: chosen?.availability
    }
  }
  let pool = mainProducts(graph, readings, page)
  const pricedIn = (entries: ReadonlyArray<Entry>) => entries.filter((r) => r.reading.price !== undefined)
  const family = (entries: ReadonlyArray<Entry>): boolean => {
    const first = entries[0] === undefined ? undefined : familyOf(graph, entries[0].found.node)
    return first !== undefined && entries.every((r) => familyOf(graph, r.found.node) === first)
  }
  let priced = pricedIn(pool)
  if (!allConsistent(priced.map((r) => r.reading)) && !family(priced)) {
    // the last evidence: the one named like the page (a variant family is not a contest)
    const titles = page.titles ?? []
    const namedLikePage = pool.filter((r) => named(r.reading.name, titles))
    if (namedLikePage.length > 0) pool = namedLikePage
    priced = pricedIn(pool)
  }
  if (!allConsistent(priced.map((r) => r.reading))) {
    if (!family(priced)) {
      return {
        detail: `${priced.length} of ${readings.length} products, with different prices, none identifiable as the page's`,
        rivals: priced.map((r) => plain(r.reading))
      }
    }
    // variants of one product group (`isVariantOf`, `inProductGroupWithID`): their range, as for `hasVariant`
    const { urlMatch: _urlMatch, ...range } = chooseOffer(priced.map((r) => ({ ...r.reading, urlMatch: false })))!
    const reading = plain(priced[0]!.reading)
    const group = resolve(graph, asArray(priced[0]!.found.node["isVariantOf"])[0])
    const name = (isObject(group) ? text(group["name"]) : undefined) ?? reading.name
    return { ...reading, ...range, name, detail: `${reading.detail} (variants, 1 of ${readings.length} products)` }
  }
  const minDepth = Math.min(...pool.map((r) => r.found.depth))
  const score = (r: (typeof readings)[number]) =>
    (r.reading.urlMatch ? 4 : 0) + (r.reading.price !== undefined ? 2 : 0) + (r.found.depth === minDepth ? 1 : 0)
  let best = pool[0]!
  for (const r of pool) if (score(r) > score(best)) best = r
  const reading = plain(best.reading)
  if (readings.length > 1) reading.detail += ` (1 of ${readings.length} products)`
  return reading
}

const plain = ({ urlMatch: _urlMatch, ...reading }: Reading & { urlMatch: boolean }): Reading => reading

interface Entry {
  readonly found: Found
  readonly reading: Reading & { urlMatch: boolean }
}

const normalizeName = (name: string): string => name.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim()

/** `name` is what the page calls its product: a title equal to it, or it followed by a separator (`Name – Shop`). */
const named = (name: string | undefined, titles: ReadonlyArray<string>): boolean => {
  if (name === undefined) return false
  const own = normalizeName(name)
  if (own === "") return false
  return titles.some((title) => {
    const t = normalizeName(title)
    return t === own || (t.startsWith(own) && /^\s*[-–—|:·•/]/.test(t.slice(own.length)))
  })
}

// `text` drops empty strings: an empty `url` would resolve to the page itself
const urlOf = (value: unknown): string | undefined =>
  typeof value === "string" ? text(value) : isObject(value) ? text(value["@id"]) ?? text(value["url"]) : undefined

/** The group a variant belongs to (`inProductGroupWithID`, else its `isVariantOf`'s id or name). */
const familyOf = (graph: Graph, node: Json): string | undefined => {
  const id = text(node["inProductGroupWithID"])
  if (id !== undefined) return `id:${id}`
  const group = resolve(graph, asArray(node["isVariantOf"])[0])
  if (!isObject(group)) return undefined
  const groupId = text(group["productGroupID"]) ?? urlOf(group) ?? text(group["name"])
  return groupId === undefined ? undefined : `group:${groupId}`
}

/**
 * The products that may be the page's own, narrowed step by step while any
 * remain: those naming this page (their `url`, `@id`, `mainEntityOfPage` or an
 * offer's `url` is the page's URL, canonical or `og:url`), else a page's
 * `mainEntity`; then those at top level (not a property of another node, such
 * as `isRelatedTo` or an `ItemList`'s elements), else the shallowest. (The
 * caller's last step, when their prices still differ: those named like the
 * page, `<h1>`, `og:title`, `<title>`.) Their order is no evidence: a
 * related-products widget's block may come first.
 */
const mainProducts = (graph: Graph, readings: ReadonlyArray<Entry>, page: PageContext): ReadonlyArray<Entry> => {
  let pool = readings
  const narrow = (keep: (entry: Entry) => boolean): boolean => {
    const kept = pool.filter(keep)
    if (kept.length === 0) return false
    pool = kept
    return true
  }
  const own = new Set([page.url, ...(page.aliases ?? [])].map((u) => normalizeUrl(u, page.url)).filter((u) => u !== undefined))
  const isOwn = (value: unknown): boolean =>
    asArray(value).some((item) => {
      const url = urlOf(item)
      const normalized = url === undefined ? undefined : normalizeUrl(url, page.url)
      return normalized !== undefined && own.has(normalized)
    })
  const mains = new Set(graph.mainEntities.map((value) => resolve(graph, value)))
  const claimed = narrow((r) =>
    r.reading.urlMatch || isOwn(r.found.node["url"]) || isOwn(r.found.node["@id"]) || isOwn(r.found.node["mainEntityOfPage"])
  )
  if (!claimed) narrow((r) => mains.has(r.found.node))
  if (!narrow((r) => r.found.top)) {
    const minDepth = Math.min(...pool.map((r) => r.found.depth))
    narrow((r) => r.found.depth === minDepth)
  }
  return pool
}
