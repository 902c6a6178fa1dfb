/**
 * `extractProduct`: the CPU work a worker does for each fetched page.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { ExtractError } from "./ExtractError.ts"
import { consistent } from "./internal/consistency.ts"
import { currencyOfLocale, isIsoCode, localeOfUrl, normalizeCurrency } from "./internal/currency.ts"
import { decode } from "./internal/decode.ts"
import * as Dom from "./internal/dom.ts"
import { scanItems, switches } from "./internal/itemScan.ts"
import { microdataItems, rdfaItems } from "./internal/markup.ts"
import { detectPlatform, GENERIC, type Platform } from "./internal/platforms.ts"
import type { PageContext, Reading } from "./internal/reading.ts"
import { normalizeAvailability } from "./internal/availability.ts"
import { scan, type Scan } from "./internal/scan.ts"
import { parseJsonLd, readGraphs } from "./internal/schemaOrg.ts"
import * as Selector from "./internal/selector.ts"
import * as Price from "./Price.ts"
import { Ambiguity, AMBIGUITY_MARGIN, type AmbiguityReason, Candidate, Product, type Source } from "./Product.ts"
import type { Rule, Rules } from "./Rules.ts"

/**
 * Options for {@link extractProduct}.
 *
 * - `url`: the page's final URL (matches offers/variants to the page, and its
 *   country TLD is a locale hint).
 * - `rules`: the target's own rules, the most trusted source.
 * - `currency`: the target's currency, a hint for prices written without one.
 * - `locale`: the site's locale; defaults to `<html lang>`, `og:locale`, the TLD.
 * - `charset`: the encoding of byte input (from the response headers). A byte-order
 *   mark overrides it; without it, a `<meta charset>` in the first 1024 bytes; else UTF-8.
 * - `exhaustive`: read every source even when a more trusted one already
 *   found a price (builds the DOM on every page; slower). Default false: the
 *   DOM is built only when rules need it or no JSON-LD/meta price outranks
 *   the DOM sources.
 * - `limits`: see {@link Limits}.
 *
 * @example
 * ```ts
 * import type { Extract } from "@trawl/extract"
 *
 * const options: Extract.ExtractOptions = { url: "https://shop.example/p/1", currency: "EUR" }
 * ```
 *
 * @since 0.1.0
 */
export interface ExtractOptions {
  readonly url: string
  readonly rules?: Rules | undefined
  readonly currency?: string | undefined
  readonly locale?: string | undefined
  readonly charset?: string | undefined
  readonly exhaustive?: boolean | undefined
  readonly limits?: Partial<Limits> | undefined
}

/**
 * Bounds on the work for one page.
 *
 * - `maxBytes`: larger inputs fail with `TooLarge` (default 10 MiB).
 * - `maxDepth`: DOM elements nested deeper are attached flat (default 256).
 * - `maxElements`: DOM elements past this count are dropped (default 250,000).
 *
 * @example
 * ```ts
 * import { Extract } from "@trawl/extract"
 *
 * Extract.defaultLimits.maxBytes // 10485760
 * ```
 *
 * @since 0.1.0
 */
export interface Limits {
  readonly maxBytes: number
  readonly maxDepth: number
  readonly maxElements: number
}

/**
 * @example
 * ```ts
 * import { Extract } from "@trawl/extract"
 *
 * const limits = { ...Extract.defaultLimits, maxBytes: 2_000_000 }
 * ```
 *
 * @since 0.1.0
 */
export const defaultLimits: Limits = { maxBytes: 10 * 1024 * 1024, maxDepth: 256, maxElements: 250_000 }

/**
 * The limits from configuration: `EXTRACT_MAX_BYTES`, `EXTRACT_MAX_DEPTH`,
 * `EXTRACT_MAX_ELEMENTS`, each defaulting to {@link defaultLimits}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Extract } from "@trawl/extract"
 *
 * const program = Effect.gen(function*() {
 *   const limits = yield* Extract.limitsConfig
 *   return limits.maxBytes
 * })
 * ```
 *
 * @since 0.1.0
 */
export const limitsConfig: Config.Config<Limits> = Config.all({
  maxBytes: Config.Int("EXTRACT_MAX_BYTES").pipe(Config.withDefault(defaultLimits.maxBytes)),
  maxDepth: Config.Int("EXTRACT_MAX_DEPTH").pipe(Config.withDefault(defaultLimits.maxDepth)),
  maxElements: Config.Int("EXTRACT_MAX_ELEMENTS").pipe(Config.withDefault(defaultLimits.maxElements))
})

/**
 * Base confidence per source, before agreement adjustments (see {@link extractProduct}).
 *
 * @example
 * ```ts
 * import { Extract } from "@trawl/extract"
 *
 * Extract.BASE_CONFIDENCE["json-ld"] // 0.9
 * ```
 *
 * @since 0.1.0
 */
export const BASE_CONFIDENCE: Readonly<Record<Source, number>> = {
  rules: 0.95,
  "json-ld": 0.9,
  microdata: 0.85,
  rdfa: 0.8,
  meta: 0.75,
  platform: 0.6
}

const fail = (reason: ExtractError["reason"], url: string, message: string) =>
  Result.fail(new ExtractError({ reason, url, message: `${message} (${url})` }))

const decoder = (charset: string | undefined): InstanceType<typeof TextDecoder> => {
  try {
    return new TextDecoder(charset ?? "utf-8")
  } catch {
    return new TextDecoder("utf-8")
  }
}

/**
 * The encoding of byte input: a byte-order mark wins (as in browsers), then
 * the given charset (from the response headers), then a `<meta charset>` or
 * `http-equiv` declaration in the first 1024 bytes, then UTF-8.
 */
const sniffCharset = (bytes: Uint8Array, given: string | undefined): string => {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return "utf-8"
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le"
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "utf-16be"
  if (given !== undefined && given.trim() !== "") return given.trim()
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 1024))
  const declared = /<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head)
  return declared?.[1] ?? "utf-8"
}

const looksBinary = (html: string): boolean => {
  const sample = Math.min(html.length, 4096)
  let odd = 0
  for (let i = 0; i < sample; i++) {
    const c = html.charCodeAt(i)
    if (c === 0) return true
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12) || c === 0xfffd) odd++
  }
  return odd > sample * 0.1
}

const toText = (input: string | Uint8Array, options: ExtractOptions, limits: Limits): Result.Result<string, ExtractError> => {
  const url = options.url
  let html: string
  if (typeof input === "string") {
    // a UTF-16 unit is at most 3 UTF-8 bytes: count bytes only when the limit could be crossed
    const over = input.length > limits.maxBytes ||
      (input.length * 3 > limits.maxBytes && Buffer.byteLength(input, "utf8") > limits.maxBytes)
    if (over) {
      return fail("TooLarge", url, `the page is larger than ${limits.maxBytes} bytes`)
    }
    html = input
  } else {
    if (input.byteLength > limits.maxBytes) {
      return fail("TooLarge", url, `the page is ${input.byteLength} bytes, more than ${limits.maxBytes}`)
    }
    const charset = sniffCharset(input, options.charset)
    const wide = /^utf-?16/i.test(charset)
    if (!wide && input.subarray(0, 1024).includes(0)) return fail("Binary", url, "the page is binary (NUL bytes), not HTML")
    html = decode(input, decoder(charset))
  }
  if (html.trim() === "") return fail("Empty", url, "the page is empty")
  if (looksBinary(html)) return fail("Binary", url, "the page is binary (control characters), not HTML")
  return Result.succeed(html)
}

const readMeta = (found: Scan, page: PageContext): Reading | undefined => {
  const get = (...keys: Array<string>): string | undefined => {
    for (const key of keys) {
      const tag = found.meta.find((m) => m.key === key && m.content !== "")
      if (tag !== undefined) return tag.content
    }
    return undefined
  }
  const currency = normalizeCurrency(
    get("product:price:currency", "og:price:currency", "pricecurrency", "product:sale_price:currency")
  )
  const sale = get("product:sale_price:amount", "og:sale_price:amount")
  const amount = get("product:price:amount", "og:price:amount", "price", "twitter:data1")
  const hint = currency ?? page.currency
  let price: Price.Price | undefined
  let regular: Price.Price | undefined
  let parsedCurrency: string | undefined
  let candidates: ReadonlyArray<string> | undefined
  const read = (value: string | undefined) => {
    if (value === undefined) return undefined
    if (/^\s*\d{1,15}(\.\d{1,8})?\s*$/.test(value)) return Price.fromMachine(value, hint)
    const parsed = Price.parsePrice(value, { currency: hint, locale: page.locale })
    if (Option.isNone(parsed)) return undefined
    parsedCurrency = parsed.value.currency
    if (parsed.value.ambiguous) candidates = parsed.value.currencyCandidates
    return parsed.value.price
  }
  price = read(sale)
  if (price !== undefined) regular = read(amount)
  else price = read(amount)
  const reading: Reading = {
    detail: sale !== undefined ? "product:sale_price:amount" : "product:price:amount / og:price:amount / itemprop=price",
    name: get("og:title", "twitter:title"),
    price,
    regular,
    currency: currency ?? parsedCurrency,
    currencyCandidates: candidates,
    availability: normalizeAvailability(get("product:availability", "og:availability", "availability")),
    sku: get("product:retailer_item_id", "product:sku", "sku"),
    gtin: get("product:gtin", "product:ean", "product:upc", "gtin13", "gtin")
  }
  const anything = reading.price ?? reading.availability ?? reading.sku
  return anything === undefined ? undefined : reading
}

interface Value {
  readonly text: string
  readonly machine: boolean
  readonly struck: ReadonlyArray<string>
  /** The element's visible text when `text` is a machine amount: it may name the currency. */
  readonly label?: string | undefined
}

const readElement = (element: Dom.Element, attribute: string | undefined, amountAttributes: ReadonlyArray<string>): Value | undefined => {
  if (attribute !== undefined) {
    const value = element.attrs[attribute.toLowerCase()]
    return value === undefined ? undefined : { text: value, machine: true, struck: [] }
  }
  for (const name of amountAttributes) {
    const value = element.attrs[name]
    if (value !== undefined && value.trim() !== "") return { text: value, machine: true, struck: [], label: Dom.textOf(element) }
  }
  const struck: Array<string> = []
  return { text: Dom.textOf(element, true, struck), machine: false, struck }
}

interface PriceRead {
  price: Price.Price
  high?: Price.Price | undefined
  regular?: Price.Price | undefined
  currency?: string | undefined
  currencyCandidates?: ReadonlyArray<string> | undefined
}

const readPrice = (value: Value, page: PageContext): PriceRead | undefined => {
  const hints = { currency: page.currency, locale: page.locale }
  if (value.machine && /^\s*\d{1,15}(\.\d{1,8})?\s*$/.test(value.text)) {
    const labelled = value.label === undefined ? Option.none() : Price.parsePrice(value.label, hints)
    const currency = Option.isSome(labelled) ? labelled.value.currency : page.currency
    const price = Price.fromMachine(value.text.trim(), currency)
    if (price === undefined) return undefined
    const ambiguous = Option.isSome(labelled) && labelled.value.ambiguous
    return { price, currency, currencyCandidates: ambiguous ? labelled.value.currencyCandidates : undefined }
  }
  const parsed = Price.parsePrice(value.text, hints)
  if (Option.isNone(parsed)) return undefined
  const p = parsed.value
  let regular = p.regular
  for (const text of value.struck) {
    const old = Price.parsePrice(text, hints)
    if (Option.isSome(old) && Price.compare(old.value.price, p.price) > 0) regular = old.value.price
  }
  return {
    price: p.price,
    high: p.high,
    regular,
    currency: p.currency,
    currencyCandidates: p.ambiguous ? p.currencyCandidates : undefined
  }
}

interface CompiledRule {
  readonly field: string
  readonly rule: Rule
  readonly selector: Selector.SelectorList | undefined
  readonly pattern: RegExp | undefined
}

const compileRule = (field: string, rule: Rule, url: string): Result.Result<CompiledRule, ExtractError> => {
  try {
    const selector = rule.selector === undefined ? undefined : Selector.compile(rule.selector)
    if (rule.pattern !== undefined && rule.pattern.length > 1000) throw new Error("pattern longer than 1000 characters")
    const pattern = rule.pattern === undefined ? undefined : new RegExp(rule.pattern, "iu")
    if (selector === undefined && pattern === undefined) throw new Error("a rule needs a selector or a pattern")
    return Result.succeed({ field, rule, selector, pattern })
  } catch (error) {
    return fail("InvalidRule", url, `rule for ${field}: ${error instanceof Error ? error.message : String(error)}`)
  }
}


const applyRule = (compiled: CompiledRule, html: string, document: () => Dom.Document): Value | undefined => {
  let value: Value | undefined
  if (compiled.selector !== undefined) {
    const element = Selector.selectFirst(document().elements, compiled.selector)
    if (element === undefined) return undefined
    value = readElement(element, compiled.rule.attribute, [])
  } else {
    value = { text: html, machine: false, struck: [] }
  }
  if (value === undefined || compiled.pattern === undefined) return value
  const match = compiled.pattern.exec(value.text)
  if (match === null) return undefined
  return { text: match[1] ?? match[0], machine: value.machine, struck: [] }
}

const readRules = (
  rules: ReadonlyArray<CompiledRule>,
  html: string,
  document: () => Dom.Document,
  page: PageContext
): Reading | undefined => {
  const reading: Reading = { detail: "" }
  const details: Array<string> = []
  for (const compiled of rules) {
    const value = applyRule(compiled, html, document)
    if (value === undefined) continue
    const where = compiled.rule.selector ?? `/${compiled.rule.pattern}/`
    details.push(`${compiled.field}: ${where}`)
    const text = value.text.replace(/\s+/g, " ").trim()
    switch (compiled.field) {
      case "price": {
        const price = readPrice(value, page)
        if (price !== undefined) Object.assign(reading, price, { currency: reading.currency ?? price.currency })
        break
      }
      case "currency": {
        const code = normalizeCurrency(text)
        if (code !== undefined) reading.currency = code
        else {
          const parsed = Price.parsePrice(`${text} 1`, { locale: page.locale })
          if (Option.isSome(parsed) && parsed.value.currency !== undefined) reading.currency = parsed.value.currency
        }
        break
      }
      case "availability":
        reading.availability = normalizeAvailability(text)
        break
      case "name":
        if (text !== "") reading.name = text
        break
      case "sku":
        if (text !== "") reading.sku = text
        break
      case "gtin":
        if (text !== "") reading.gtin = text
        break
    }
  }
  reading.detail = `rules ${details.join(", ")}`
  return details.length === 0 ? undefined : reading
}

const readPlatform = (platform: Platform, document: Dom.Document, page: PageContext): Reading | undefined => {
  // generic class names are only trusted when they are unambiguous: exactly one element on the page
  const unique = platform === GENERIC
  const first = (selectors: ReadonlyArray<string>): { element: Dom.Element; selector: string } | undefined => {
    for (const selector of selectors) {
      const compiled = Selector.compile(selector)
      if (unique) {
        const all = Selector.selectAll(document.elements, compiled)
        if (all.length === 1) return { element: all[0]!, selector }
        if (all.length > 1) return undefined
        continue
      }
      const element = Selector.selectFirst(document.elements, compiled)
      if (element !== undefined) return { element, selector }
    }
    return undefined
  }
  const priceAt = first(platform.price)
  let price: PriceRead | undefined
  if (priceAt !== undefined) {
    const value = readElement(priceAt.element, undefined, platform.amountAttributes)
    if (value !== undefined) price = readPrice(value, page)
  }
  if (price !== undefined && price.regular === undefined) {
    const regularAt = first(platform.regular)
    if (regularAt !== undefined && regularAt.element !== priceAt?.element) {
      const value = readElement(regularAt.element, undefined, platform.amountAttributes)
      const regular = value === undefined ? undefined : readPrice(value, page)
      if (regular !== undefined && Price.compare(regular.price, price.price) > 0) price.regular = regular.price
    }
  }
  const nameAt = first(platform.name_)
  const availabilityAt = first(platform.availability)
  const reading: Reading = {
    detail: `${platform.name} ${priceAt?.selector ?? "(no price element)"}`,
    name: nameAt === undefined ? undefined : Dom.textOf(nameAt.element) || undefined,
    availability: availabilityAt === undefined
      ? undefined
      : normalizeAvailability(Dom.textOf(availabilityAt.element)) ??
        (availabilityAt.element.attrs["disabled"] !== undefined ? "OutOfStock" : undefined),
    ...price
  }
  return reading.price === undefined && reading.availability === undefined ? undefined : reading
}

const NO_MARKUP = { microdata: false, rdfa: false } as const

/**
 * Whether the page mentions `itemscope` (microdata) and `typeof=`/`typeof =`
 * (RDFa) anywhere. `indexOf`, not a regular expression: a JSON-LD price the
 * meta tags do not confirm needs this on most pages, and the alternation
 * /itemscope|typeof ?=/ ran at a third of the speed of the rest of the fast
 * path (bench: json-ld-fast-path/300KB 609 → 238 MB/s).
 */
const markupKinds = (html: string): { microdata: boolean; rdfa: boolean } => {
  const microdata = html.indexOf("itemscope") !== -1
  let rdfa = false
  for (let at = html.indexOf("typeof"); at !== -1; at = html.indexOf("typeof", at + 6)) {
    let next = at + 6
    if (html.charCodeAt(next) === 32) next++
    if (html.charCodeAt(next) === 61 /* = */) {
      rdfa = true
      break
    }
  }
  return { microdata, rdfa }
}

const localeFor = (options: ExtractOptions, found: Scan): string | undefined => {
  if (options.locale !== undefined) return options.locale
  const lang = found.lang
  if (lang !== undefined && /[-_][a-z]{2}\b/i.test(lang)) return lang
  const og = found.meta.find((m) => m.key === "og:locale")?.content
  if (og !== undefined && og !== "") return og
  return localeOfUrl(options.url) ?? lang
}

const agreement = (candidate: Reading, all: ReadonlyArray<Reading>): { agree: number; disagree: number } => {
  let agree = 0
  let disagree = 0
  for (const other of all) {
    if (other === candidate || other.price === undefined || candidate.price === undefined) continue
    if (Price.equals(other.price, candidate.price)) agree++
    else disagree++
  }
  return { agree, disagree }
}

/**
 * Confidence of one candidate: its source's base trust; +0.04 for each other
 * source that found the same price (up to +0.08), −0.15 when any other
 * source found a different one, −0.1 when the currency is unknown or
 * ambiguous, −0.05 for a range. Clamped to [0, 0.99]; 0 without a price.
 */
const confidenceOf = (reading: Reading, currency: string | undefined, all: ReadonlyArray<Reading>, base: number): number => {
  if (reading.price === undefined) return 0
  const { agree, disagree } = agreement(reading, all)
  let c = base + Math.min(agree * 0.04, 0.08)
  if (disagree > 0) c -= 0.15
  if (currency === undefined) c -= 0.1
  if (reading.high !== undefined) c -= 0.05
  return Math.round(Math.max(0, Math.min(0.99, c)) * 100) / 100
}

const rescale = (price: Price.Price | undefined, currency: string | undefined): Price.Price | undefined =>
  price === undefined || currency === undefined ? price : Price.fromDecimal(price.amount, currency) ?? price

/**
 * What a broken JSON-LD block's text still says: its `"price"` values (machine
 * amounts only) and, when it names exactly one, its `"priceCurrency"`. Not a
 * reading (the block's structure is lost, so nothing says whose price it is),
 * only evidence against a fallback that names none of them.
 */
interface Salvage {
  readonly block: number
  readonly prices: ReadonlyArray<Price.Price>
  readonly currency: string | undefined
}

const SALVAGE_PRICE = /"price"\s*:\s*(?:"\s*(\d{1,15}(?:\.\d{1,8})?)\s*"|(\d{1,15}(?:\.\d{1,8})?)(?=\s*[,}\]]|\s*$))/g
const SALVAGE_CURRENCY = /"priceCurrency"\s*:\s*"\s*([A-Za-z]{3})\s*"/g
const MAX_SALVAGE_CHARS = 1_000_000
const MAX_SALVAGE_PRICES = 8

/**
 * A salvaged price is trusted like a meta tag: a fragment of the most trusted
 * source, but a fragment. A fallback trusted more (microdata, RDFa: whole
 * entities) wins over it; one trusted no more (meta, platform) is contradicted.
 */
const SALVAGE_CONFIDENCE = 0.75

const salvage = (raw: string, block: number, page: PageContext): Salvage | undefined => {
  if (raw.length > MAX_SALVAGE_CHARS) return undefined
  const currencies = new Set<string>()
  SALVAGE_CURRENCY.lastIndex = 0
  for (let m = SALVAGE_CURRENCY.exec(raw); m !== null; m = SALVAGE_CURRENCY.exec(raw)) currencies.add(m[1]!.toUpperCase())
  const declared = currencies.size === 1 ? normalizeCurrency([...currencies][0]) : undefined
  const currency = declared ?? (currencies.size === 0 ? page.currency : undefined)
  const prices: Array<Price.Price> = []
  SALVAGE_PRICE.lastIndex = 0
  for (let m = SALVAGE_PRICE.exec(raw); m !== null && prices.length < MAX_SALVAGE_PRICES; m = SALVAGE_PRICE.exec(raw)) {
    const price = Price.fromMachine(m[1] ?? m[2], currency)
    if (price !== undefined && !prices.some((p) => Price.equals(p, price))) prices.push(price)
  }
  return prices.length === 0 ? undefined : { block, prices, currency }
}

/**
 * A source that found several products with different prices (`rivals`) is
 * settled when another source's price names exactly one of them: then that is
 * the page's product.
 */
const settle = (readings: { [S in Source]?: Reading | undefined }): void => {
  for (const source of SOURCES) {
    const rivals = readings[source]?.rivals
    if (rivals === undefined) continue
    const others = SOURCES.flatMap((other) => {
      const reading = readings[other]
      return other === source || reading?.price === undefined ? [] : [{ other, reading }]
    })
    const named = rivals.flatMap((rival) => {
      const by = others.find(({ reading }) =>
        Price.equals(reading.price!, rival.price!) &&
        (reading.currency === undefined || rival.currency === undefined || reading.currency === rival.currency)
      )
      return by === undefined ? [] : [{ rival, by }]
    })
    if (named.length === 1) {
      const { by, rival } = named[0]!
      readings[source] = { ...rival, detail: `${rival.detail} (of ${rivals.length} products, the one ${by.other} confirms)` }
    }
  }
}

const SOURCES = ["rules", "json-ld", "microdata", "rdfa", "meta", "platform"] as const

/** `19.99 EUR (json-ld)`; products of one source are told apart by name: `39.00 USD (json-ld "T-2 toaster")`. */
const describeCandidate = (candidate: Candidate, byName: boolean): string => {
  const amount = `${candidate.price?.amount ?? "?"}${candidate.currency === undefined ? "" : ` ${candidate.currency}`}`
  const name = byName && candidate.name !== undefined ? ` ${JSON.stringify(candidate.name)}` : ""
  return `${amount} (${candidate.source}${name})`
}

const ambiguityOf = (reason: AmbiguityReason, candidates: ReadonlyArray<Candidate>, lead: string): Ambiguity =>
  new Ambiguity({
    reason,
    detail: `${lead}: ${candidates.map((c) => describeCandidate(c, reason === "several-offers")).join(", ")}`,
    candidates
  })

/**
 * Extracts the product from a page, synchronously, as a `Result`. This is the
 * function a worker thread runs; {@link extractProduct} wraps it in an Effect.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Extract } from "@trawl/extract"
 *
 * const result = Extract.extractProductResult(
 *   `<script type="application/ld+json">{"@type":"Product","name":"Mug","offers":{"price":"9.90","priceCurrency":"EUR"}}</script>`,
 *   { url: "https://shop.example/mug" }
 * )
 * if (Result.isSuccess(result)) result.success.price?.amount // "9.90"
 * ```
 *
 * @since 0.1.0
 */
export const extractProductResult = (input: string | Uint8Array, options: ExtractOptions): Result.Result<Product, ExtractError> => {
  const limits: Limits = { ...defaultLimits, ...options.limits }
  const text = toText(input, options, limits)
  if (Result.isFailure(text)) return Result.fail(text.failure)
  const html = text.success
  const url = options.url

  const compiledRules: Array<CompiledRule> = []
  if (options.rules !== undefined) {
    for (const field of ["price", "name", "currency", "availability", "sku", "gtin"] as const) {
      const rule = options.rules[field]
      if (rule === undefined) continue
      const compiled = compileRule(field, rule, url)
      if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
      compiledRules.push(compiled.success)
    }
  }

  const found = scan(html)
  const notes: Array<string> = []
  const locale = localeFor(options, found)
  const configured = normalizeCurrency(options.currency)
  const meta = (key: string) => found.meta.find((m) => m.key === key && m.content !== "")?.content
  const present = (values: ReadonlyArray<string | undefined>) => values.filter((v): v is string => v !== undefined)
  let page: PageContext = {
    url,
    currency: configured,
    locale,
    aliases: present([found.canonical, meta("og:url")]),
    titles: present([found.h1, meta("og:title"), found.title])
  }

  let document: Dom.Document | undefined
  const dom = (): Dom.Document => {
    if (document === undefined) {
      document = Dom.parse(html, limits)
      if (document.capped) notes.push(`DOM capped (depth ${limits.maxDepth}, ${limits.maxElements} elements)`)
    }
    return document
  }

  const readings: { [S in Source]?: Reading | undefined } = {}

  const roots: Array<{ value: unknown; label: string }> = []
  const broken: Array<{ raw: string; block: number }> = []
  found.jsonLd.forEach((raw, i) => {
    const value = parseJsonLd(raw)
    if (value === undefined) {
      notes.push(`JSON-LD block ${i + 1}: invalid JSON, skipped`)
      broken.push({ raw, block: i + 1 })
    } else roots.push({ value, label: `JSON-LD block ${i + 1}` })
  })
  readings["json-ld"] = readGraphs(roots, page)
  readings.meta = readMeta(found, page)
  const declared = readings["json-ld"]?.currency ?? readings.meta?.currency
  if (page.currency === undefined && declared !== undefined && isIsoCode(declared)) page = { ...page, currency: declared }

  if (compiledRules.length > 0) readings.rules = readRules(compiledRules, html, dom, page)
  settle(readings)

  const priced = (source: Source) => readings[source]?.price !== undefined
  // JSON-LD decides alone only when the meta tags confirm it: else microdata/RDFa, trusted nearly as much, are
  // read too, so that a page whose JSON-LD and microdata disagree is ambiguous instead of silently JSON-LD's
  const jsonLd = readings["json-ld"]
  const confirmed = jsonLd?.price !== undefined && readings.meta?.price !== undefined && consistent(jsonLd, readings.meta)
  const outranked = priced("rules") || confirmed
  // a pass over the whole page: skipped when a more trusted source already decided
  const exhaustive = options.exhaustive === true
  const { microdata: hasMicrodata, rdfa: hasRdfa } = exhaustive || !outranked ? markupKinds(html) : NO_MARKUP
  const needDom = exhaustive || (!outranked && (hasMicrodata || hasRdfa || !priced("meta")))
  if (needDom) {
    // microdata and RDFa without the DOM when nothing else needs it (the DOM is then built only for platform markup)
    const items = switches.enabled && document === undefined && !exhaustive && (hasMicrodata || hasRdfa)
      ? scanItems(html, limits, hasMicrodata, hasRdfa)
      : undefined
    if (hasMicrodata) {
      const found = items?.microdata ?? microdataItems(dom())
      readings.microdata = readGraphs(found.map((value, i) => ({ value, label: `microdata item ${i + 1}` })), page)
    }
    if (hasRdfa) {
      const found = items?.rdfa ?? rdfaItems(dom())
      readings.rdfa = readGraphs(found.map((value, i) => ({ value, label: `RDFa item ${i + 1}` })), page)
    }
    if (exhaustive || !Object.values(readings).some((r) => r?.price !== undefined)) {
      readings.platform = readPlatform(detectPlatform(html), dom(), page)
    }
  }
  settle(readings)

  const ordered: Array<{ source: Source; reading: Reading }> = []
  for (const source of SOURCES) {
    const reading = readings[source]
    if (reading !== undefined) ordered.push({ source, reading })
  }
  const all = ordered.map((o) => o.reading)
  const platformBase = (reading: Reading) => (reading.detail.startsWith("generic") ? 0.45 : BASE_CONFIDENCE.platform)
  const baseOf = (source: Source, reading: Reading) => (source === "platform" ? platformBase(reading) : BASE_CONFIDENCE[source])
  const toCandidate = (source: Source, reading: Reading, among: ReadonlyArray<Reading>, base = baseOf(source, reading)) => {
    const currency = reading.currency ?? (reading.currencyCandidates === undefined ? page.currency : undefined)
    return new Candidate({
      source,
      detail: reading.detail,
      confidence: confidenceOf(reading, currency, among, base),
      name: reading.name,
      price: rescale(reading.price, currency),
      high: rescale(reading.high, currency),
      regular: rescale(reading.regular, currency),
      currency: currency !== undefined && isIsoCode(currency) ? currency : undefined,
      currencyCandidates: reading.currencyCandidates,
      availability: reading.availability,
      sku: reading.sku,
      gtin: reading.gtin
    })
  }
  const candidates = ordered.map(({ reading, source }) => toCandidate(source, reading, all))

  // broken blocks' text is searched only when a weak fallback leads
  const salvaged = () => broken.flatMap(({ block, raw }) => salvage(raw, block, page) ?? [])
  const ambiguity = decide(ordered, candidates, toCandidate, salvaged, baseOf)

  const winner = ambiguity === null ? candidates.find((c) => c.price !== undefined) : undefined
  const pick = <K extends "name" | "sku" | "gtin" | "availability">(key: K): Candidate[K] | undefined =>
    winner?.[key] ?? candidates.find((c) => c[key] !== undefined)?.[key]
  let currency = winner?.currency
  let currencyCandidates = winner?.currencyCandidates
  if (winner !== undefined && currency === undefined && currencyCandidates !== undefined) {
    const resolved = candidates.find((c) => c.currency !== undefined && currencyCandidates!.includes(c.currency))?.currency ??
      currencyOfLocale(locale)
    if (resolved !== undefined && currencyCandidates.includes(resolved)) {
      currency = resolved
      currencyCandidates = undefined
    }
  }
  if (ambiguity !== null) {
    // the currency is not in dispute when every price in contention is in the same one
    const currencies = new Set(ambiguity.candidates.map((c) => c.currency))
    currency = currencies.size === 1 ? [...currencies][0] : undefined
  } else if (winner === undefined) currency = candidates.find((c) => c.currency !== undefined)?.currency

  const rest = candidates.filter((c) => c !== winner)
  return Result.succeed(
    new Product({
      url,
      name: pick("name") ?? found.title,
      price: rescale(winner?.price, currency),
      high: rescale(winner?.high, currency),
      regular: rescale(winner?.regular, currency),
      currency,
      currencyCandidates,
      availability: pick("availability") ?? "Unknown",
      sku: pick("sku"),
      gtin: pick("gtin"),
      source: winner?.source,
      confidence: winner === undefined ? 0 : winner.confidence,
      candidates: winner === undefined ? rest : [winner, ...rest],
      notes,
      ambiguity
    })
  )
}

/**
 * Whether the page's price can be decided, else why not (see `Product.Ambiguity`).
 * The lead is the most trusted source with a price or with several products:
 *
 * - the target's own `rules` lead: never ambiguous (the user said where the price is);
 * - the lead found several products none of which is the page's (and no other
 *   source's price named one): `several-offers`;
 * - the lead is a fallback trusted no more than a salvaged fragment (meta,
 *   platform) and a broken JSON-LD block's text names prices, none consistent
 *   with it: `fallback-contradicts-primary`;
 * - another source within {@link AMBIGUITY_MARGIN} of the lead's confidence
 *   found a price inconsistent with it: `sources-disagree`.
 */
const decide = (
  ordered: ReadonlyArray<{ readonly source: Source; readonly reading: Reading }>,
  candidates: ReadonlyArray<Candidate>,
  toCandidate: (source: Source, reading: Reading, among: ReadonlyArray<Reading>, base?: number) => Candidate,
  salvaged: () => ReadonlyArray<Salvage>,
  baseOf: (source: Source, reading: Reading) => number
): Ambiguity | null => {
  const index = ordered.findIndex(({ reading }) => reading.price !== undefined || reading.rivals !== undefined)
  if (index === -1) return null
  const lead = ordered[index]!
  if (lead.source === "rules") return null
  const pricedOthers = candidates.filter((c, i) => i !== index && c.price !== undefined)
  const all = ordered.map((o) => o.reading)
  if (lead.reading.rivals !== undefined) {
    const among = [...all, ...lead.reading.rivals]
    const rivals = lead.reading.rivals.map((rival) => toCandidate(lead.source, rival, among))
    return ambiguityOf(
      "several-offers",
      [...rivals, ...pricedOthers],
      `${lead.source} has ${rivals.length} products with different prices, none identifiable as the page's`
    )
  }
  const winner = candidates[index]!
  if (baseOf(lead.source, lead.reading) <= SALVAGE_CONFIDENCE) {
    const fragments = salvaged()
    const prices = fragments.flatMap((f) => f.prices)
    if (prices.length > 0 && !prices.some((price) => consistent({ price }, winner))) {
      const readings = fragments.flatMap(({ block, currency, prices }) =>
        prices.map((price): Reading => ({
          detail: `JSON-LD block ${block} (invalid JSON): a "price" in its text`,
          price,
          currency
        }))
      )
      const among = [...all, ...readings]
      const fromText = readings.map((reading) => toCandidate("json-ld", reading, among, SALVAGE_CONFIDENCE))
      return ambiguityOf(
        "fallback-contradicts-primary",
        [...fromText, winner, ...pricedOthers],
        `JSON-LD is broken and its text contradicts ${lead.source}`
      )
    }
  }
  // in hundredths, as confidences are rounded: 0.75 − 0.05 must not miss 0.7 by a float's last bit
  const floor = Math.round(winner.confidence * 100) - Math.round(AMBIGUITY_MARGIN * 100)
  const close = candidates.filter((c) => c.price !== undefined && Math.round(c.confidence * 100) >= floor)
  if (close.some((c) => !consistent(c, winner))) {
    // every price on the page is listed, the ones that tipped the balance and the ones that support them
    return ambiguityOf("sources-disagree", candidates.filter((c) => c.price !== undefined), "sources trusted about equally disagree")
  }
  return null
}

/**
 * Pages extracted, by `outcome`: the winning source (`json-ld`, `meta`, …),
 * `ambiguous` (the page disagrees with itself, `Product.ambiguity`), `no-price`,
 * or the `ExtractError` reason (`Empty`, `Binary`, …). Updated by
 * {@link extractProduct}.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Extract } from "@trawl/extract"
 *
 * const jsonLdPages = Metric.value(Extract.pagesExtracted.pipe(Metric.withAttributes({ outcome: "json-ld" })))
 * ```
 *
 * @since 0.1.0
 */
export const pagesExtracted = Metric.counter("trawl_extract_pages_total", {
  description: "Pages extracted, by outcome (winning source, ambiguous, no-price, or error reason)",
  incremental: true
})

const count = (outcome: string) => Metric.update(pagesExtracted.pipe(Metric.withAttributes({ outcome })), 1)

/**
 * Extracts the product from a page (HTML text, or bytes decoded with
 * `options.charset`). Never throws and never dies on bad input: an empty,
 * binary or oversized page, or an unusable rule, fails with a typed
 * `ExtractError`; a page without a product succeeds with no `price`.
 *
 * **Order of trust**: `rules` → `json-ld` → `microdata` → `rdfa` → `meta` →
 * `platform`. The first source with a price wins; the other fields (name,
 * availability, sku, gtin, currency) come from the winner, else from the
 * next source that has them. Every reading is kept in `candidates`.
 *
 * **Ambiguity**: unless the target's `rules` found the price, a page that
 * disagrees with itself gets no price: `ambiguity` says why and lists the
 * prices in contention (`sources-disagree`, `fallback-contradicts-primary`,
 * `several-offers`; see `Product.Ambiguity`). Within one source the page's own
 * product is the one naming the page's URL (or canonical / `og:url`), else a
 * page's `mainEntity`, else the top-level one (not nested in a list or a
 * relation), else the one named like the page (`<h1>`, `og:title`, `<title>`);
 * another source's price that names exactly one of them also decides.
 *
 * **Fast path**: JSON-LD and meta tags are read by a DOM-free scan. The DOM
 * is built only when a rule has a selector, when `exhaustive` is set, or when
 * neither rules nor a JSON-LD price the meta tags confirm decided and the page
 * has microdata/RDFa or no meta price (microdata and RDFa are then read by a
 * DOM-free pass too, and the DOM is built only for platform markup). A JSON-LD
 * price the meta tags do not confirm is checked against microdata/RDFa, the
 * sources trusted nearly as much.
 *
 * Each call counts its outcome in {@link pagesExtracted} and logs skipped
 * or capped input (`notes`) at debug level, annotated with the URL.
 *
 * **Confidence** (0–0.99): the source's {@link BASE_CONFIDENCE}, +0.04 for
 * each other source agreeing on the price (at most +0.08), −0.15 if any other
 * source disagrees, −0.1 without a known currency, −0.05 for a price range.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Extract } from "@trawl/extract"
 *
 * const program = Extract.extractProduct(
 *   `<meta property="product:price:amount" content="19.99"><meta property="product:price:currency" content="USD">`,
 *   { url: "https://shop.example/p/1" }
 * ).pipe(Effect.map((product) => product.price?.minor)) // 1999n
 * ```
 *
 * @since 0.1.0
 */
export const extractProduct = (input: string | Uint8Array, options: ExtractOptions): Effect.Effect<Product, ExtractError> =>
  Effect.suspend(() => Effect.fromResult(extractProductResult(input, options))).pipe(
    Effect.tap((product) =>
      Effect.andThen(
        count(product.ambiguity !== null ? "ambiguous" : product.source ?? "no-price"),
        product.notes.length === 0 ? Effect.void : Effect.logDebug("extraction notes", ...product.notes)
      )
    ),
    Effect.tapError((error) => Effect.andThen(count(error.reason), Effect.logDebug(error.message))),
    Effect.annotateLogs({ url: options.url })
  )
