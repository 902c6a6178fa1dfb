/**
 * schema.org Product/Offer graphs → one `Reading`. JSON-LD parses to such a
 * graph directly; microdata and RDFa are converted to the same plain-object
 * shape first, so all three share this normalizer.
 */
import * as Price from "../Price.ts"
import type { Availability } from "../Product.ts"
import { normalizeAvailability } from "./availability.ts"
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
}

interface Graph {
  readonly products: Array<Found>
  readonly offers: Array<Found>
  readonly ids: Map<string, Json>
}

/** Walks every root iteratively (depth- and size-capped), indexing `@id`s, products and offers. */
const collect = (roots: ReadonlyArray<{ readonly value: unknown; readonly label: string }>): Graph => {
  const graph: Graph = { products: [], offers: [], ids: new Map() }
  let visited = 0
  for (const root of roots) {
    const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root.value, path: root.label, depth: 0 }]
    while (stack.length > 0 && visited < MAX_NODES) {
      const { depth, path, value } = stack.pop()!
      visited++
      if (depth > MAX_DEPTH) continue
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1 })
        continue
      }
      if (!isObject(value)) continue
      const id = value["@id"]
      if (typeof id === "string" && !graph.ids.has(id) && Object.keys(value).length > 1) graph.ids.set(id, value)
      const types = typesOf(value)
      const order = visited
      if (types.some((t) => PRODUCT_TYPES.has(t))) graph.products.push({ node: value, path, depth, order })
      else if (types.includes("offer") || types.includes("aggregateoffer")) graph.offers.push({ node: value, path, depth, order })
      const keys = Object.keys(value)
      for (let k = keys.length - 1; k >= 0; k--) {
        const key = keys[k]!
        const child = value[key]
        if (typeof child === "object" && child !== null) {
          stack.push({ value: child, path: key === "@graph" ? `${path} @graph` : `${path}.${key}`, depth: depth + 1 })
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
 * The page's main product from schema.org graphs: the one whose `url` (or an
 * offer's) is this page, else a priced one at the shallowest depth, else the
 * first. `roots` are parsed JSON-LD blocks or converted microdata/RDFa items.
 */
export const readGraphs = (
  roots: ReadonlyArray<{ readonly value: unknown; readonly label: string }>,
  page: PageContext
): Reading | undefined => {
  if (roots.length === 0) return undefined
  const graph = collect(roots)
  const variantNodes = new Set<unknown>()
  for (const found of graph.products) {
    for (const v of asArray(found.node["hasVariant"])) variantNodes.add(resolve(graph, v))
  }
  const readings = graph.products
    .filter((found) => !variantNodes.has(found.node))
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
  const minDepth = Math.min(...readings.map((r) => r.found.depth))
  const score = (r: (typeof readings)[number]) =>
    (r.reading.urlMatch ? 4 : 0) + (r.reading.price !== undefined ? 2 : 0) + (r.found.depth === minDepth ? 1 : 0)
  let best = readings[0]!
  for (const r of readings) if (score(r) > score(best)) best = r
  const { urlMatch: _urlMatch, ...reading } = best.reading
  if (readings.length > 1) reading.detail += ` (1 of ${readings.length} products)`
  return reading
}
