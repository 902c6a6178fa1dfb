/**
 * Exact prices and the human price-string parser.
 *
 * A price is never a float: it is a decimal string plus an integer count of
 * minor units (`"12.99"`, `1299n`, scale 2).
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { currencyOfLocale, exponentOf, isIsoCode } from "./internal/currency.ts"
import {
  interpretNumber,
  type Marker,
  markerAfter,
  markerBefore,
  normalizeText,
  type NumberToken,
  scanNumbers
} from "./internal/priceText.ts"

/**
 * An ISO 4217 currency code (three upper-case letters).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Price } from "@trawl/extract"
 *
 * Schema.decodeUnknownSync(Price.CurrencyCode)("EUR")
 * ```
 *
 * @since 0.1.0
 */
export const CurrencyCode = Schema.String.check(Schema.isPattern(/^[A-Z]{3}$/))

/**
 * An exact amount: `amount` is a plain decimal string with exactly `scale`
 * fraction digits, and `minor` is `amount × 10^scale` as a bigint. `scale` is
 * the currency's minor-unit exponent (2 for EUR, 0 for JPY, 3 for KWD), or
 * more when the source wrote more digits (`1.799` USD has scale 3).
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * const price = Price.fromDecimal("12.5", "EUR")!
 * price.amount // "12.50"
 * price.minor // 1250n
 * ```
 *
 * @since 0.1.0
 */
export class Price extends Schema.Class<Price>("@trawl/extract/Price")(
  Schema.Struct({
    amount: Schema.String.check(Schema.isPattern(/^\d+(\.\d+)?$/)),
    minor: Schema.BigInt,
    scale: Schema.Int
  }).check(
    Schema.makeFilter(
      ({ amount, minor, scale }) =>
        (amount.split(".")[1] ?? "").length === scale && BigInt(amount.replace(".", "")) === minor,
      { expected: "minor = amount × 10^scale, with exactly scale fraction digits" }
    )
  )
) {}

/**
 * Builds a `Price` from a plain decimal string (`"1234.5"`), scaled to the
 * currency's exponent. Returns undefined for anything that is not a plain
 * non-negative decimal.
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * Price.fromDecimal("1299", "JPY")?.minor // 1299n
 * ```
 *
 * @since 0.1.0
 */
export const fromDecimal = (decimal: string, currency?: string): Price | undefined => {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(decimal)
  if (match === null) return undefined
  const integer = match[1]!.replace(/^0+(?=\d)/, "")
  const written = match[2] ?? ""
  const trimmed = written.replace(/0+$/, "")
  const scale = Math.max(exponentOf(currency), trimmed.length)
  const fraction = trimmed.padEnd(scale, "0")
  return new Price({
    amount: scale === 0 ? integer : `${integer}.${fraction}`,
    minor: BigInt(integer + fraction),
    scale
  })
}

/**
 * Builds a `Price` from a machine-readable value (a JSON number, or a
 * `content`/`data-*` attribute). Plain `123.45` strings are read literally with
 * `.` as the decimal point, as schema.org and OpenGraph specify; anything else
 * goes through {@link parsePrice}. JSON numbers are exact for up to 15
 * significant digits (their shortest round-trip form is used).
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * Price.fromMachine("1.234", "EUR")?.amount // "1.234" (schema.org: "." is the decimal point)
 * Price.fromMachine(19.9, "USD")?.amount // "19.90"
 * ```
 *
 * @since 0.1.0
 */
export const fromMachine = (value: unknown, currency?: string): Price | undefined => {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return undefined
    return fromDecimal(String(value), currency)
  }
  if (typeof value !== "string") return undefined
  const text = value.trim()
  if (/^\d{1,15}(\.\d{1,8})?$/.test(text)) return fromDecimal(text, currency)
  const parsed = parsePrice(text, currency === undefined ? {} : { currency })
  return Option.isSome(parsed) ? parsed.value.price : undefined
}

/**
 * Where a parsed currency came from: a symbol (`€`), a code (`EUR`), the
 * `currency` hint, the `locale` hint's region, or nowhere.
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * const source: Price.CurrencySource = "symbol"
 * ```
 *
 * @since 0.1.0
 */
export const CurrencySource = Schema.Literals(["symbol", "code", "hint", "locale", "none"])

/**
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * const source: Price.CurrencySource = "code"
 * ```
 *
 * @since 0.1.0
 */
export type CurrencySource = typeof CurrencySource.Type

/**
 * The result of {@link parsePrice}.
 *
 * - `price`: the price to pay (the low end of a range, the sale price of a pair).
 * - `high`: the high end of a range (`9.99 – 19.99`).
 * - `regular`: the regular ("was") price of a sale pair.
 * - `currency`: ISO 4217 code when known; `currencyCandidates` lists every
 *   currency an ambiguous symbol may denote (`$`, `kr`, `¥`) and
 *   `ambiguous` is true when the hints could not decide.
 * - `from`: the text says "from 9.99" (a lower bound); `free`: "Free".
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { Price } from "@trawl/extract"
 *
 * const parsed = Option.getOrThrow(Price.parsePrice("9.99 – 19.99 €"))
 * parsed.high?.amount // "19.99"
 * ```
 *
 * @since 0.1.0
 */
export class ParsedPrice extends Schema.Class<ParsedPrice>("@trawl/extract/ParsedPrice")({
  price: Price,
  high: Schema.optional(Price),
  regular: Schema.optional(Price),
  currency: Schema.optional(CurrencyCode),
  currencyCandidates: Schema.Array(CurrencyCode),
  currencySource: CurrencySource,
  ambiguous: Schema.Boolean,
  from: Schema.Boolean,
  free: Schema.Boolean
}) {}

/**
 * Hints for {@link parsePrice}.
 *
 * - `currency`: the currency the page declares elsewhere (its JSON-LD
 *   `priceCurrency`, the target's configuration). Used when the text has no
 *   currency, and to resolve an ambiguous symbol.
 * - `locale`: the site's locale (`en-CA`, `sv_SE`); its region resolves
 *   ambiguous symbols (`$` → CAD) and supplies a currency when nothing else does.
 * - `decimal`: the site's decimal separator, when known for certain. Without
 *   it, the separator rules documented on {@link parsePrice} decide.
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * const hints: Price.PriceHints = { locale: "sv-SE" }
 * ```
 *
 * @since 0.1.0
 */
export interface PriceHints {
  readonly currency?: string | undefined
  readonly locale?: string | undefined
  readonly decimal?: "." | "," | undefined
}

const RANGE_BETWEEN = /^\s*(?:-|\u2013|\u2014|~|to|bis|à|a|au|till|tot|do|до|até|hasta|\.\.\.?|…)\s*$/i
const REGULAR_WORDS =
  /(?:\bwas\b|\bregular(?: price)?|\breg\.|\blist(?: price)?\b|\bmsrp\b|\brrp\b|\buvp\b|\bstatt\b|\bvorher\b|\bavant\b|au lieu de|\bprima\b|\bantes\b|\bbefore\b|compare at|\borig(?:inal|\.)|\bpreviously\b|old price|\bzamiast\b|\btidigare\b|\bfør\b|\bvoor\b|\bstreichpreis\b|\bnormalpreis\b|ursprünglich|\bwar\b)[^0-9]*$/i
const SALE_WORDS =
  /(?:\bnow\b|\bsale(?: price)?\b|our price|special price|\bjetzt\b|\bnur\b|maintenant|\bora\b|\bahora\b|\bnu\b|\bteraz\b|\bangebot\b|\bpromo\b|\baktuell)[^0-9]*$/i
const FROM_WORDS =
  /(?:\bfrom\b|starting at|\bab\b|à partir de|a partir de|\bdesde\b|\bda\b|\bvanaf\b|\bod\b|\bfrån\b|\bfra\b|\bот\b)[^0-9]*$/i
const FREE_WORDS = /\b(?:free|gratis|kostenlos|gratuit|gratuito|darmowy|zdarma)\b|бесплатно/i
const UNIT_AFTER = /^(?:\s?%|\p{L})/u

interface Group {
  readonly tokens: ReadonlyArray<NumberToken>
  readonly marker: Marker | undefined
  readonly start: number
  readonly end: number
}

interface ResolvedCurrency {
  readonly currency: string | undefined
  readonly candidates: ReadonlyArray<string>
  readonly source: CurrencySource
  readonly ambiguous: boolean
}

const resolveCurrency = (marker: Marker | undefined, hints: PriceHints): ResolvedCurrency => {
  const hinted = hints.currency !== undefined && isIsoCode(hints.currency) ? hints.currency : undefined
  const localeCurrency = currencyOfLocale(hints.locale)
  if (marker === undefined) {
    if (hinted !== undefined) return { currency: hinted, candidates: [hinted], source: "hint", ambiguous: false }
    if (localeCurrency !== undefined) {
      return { currency: localeCurrency, candidates: [localeCurrency], source: "locale", ambiguous: false }
    }
    return { currency: undefined, candidates: [], source: "none", ambiguous: false }
  }
  const codes = marker.codes
  if (codes.length === 1) return { currency: codes[0], candidates: codes, source: marker.kind, ambiguous: false }
  if (hinted !== undefined && codes.includes(hinted)) {
    return { currency: hinted, candidates: codes, source: "hint", ambiguous: false }
  }
  if (localeCurrency !== undefined && codes.includes(localeCurrency)) {
    return { currency: localeCurrency, candidates: codes, source: "locale", ambiguous: false }
  }
  return { currency: undefined, candidates: codes, source: marker.kind, ambiguous: true }
}

const closer = (a: Marker | undefined, b: Marker | undefined): Marker | undefined =>
  a === undefined ? b : b === undefined ? a : b.gap < a.gap ? b : a

/**
 * Parses a human price string in any common locale: `$1,299.00`,
 * `1.234,56 €`, `1 234,56 zł`, `CHF 1'234.50`, `¥1,299`, `₹1,23,456.00`,
 * `US$ 12`, `12,-`, `from 9.99`, `9.99 – 19.99`, `$29.99 $19.99`, `Free`,
 * with noise around it. Returns `Option.none()` when the text holds no price.
 *
 * **Separator rules** (applied to each number, in this order):
 * 1. Spaces (including no-break and narrow spaces), apostrophes (`'`, `’`)
 *    and the Arabic thousands sign always group thousands; the Arabic decimal
 *    sign is always the decimal point.
 * 2. When both `.` and `,` appear, the last one is the decimal point and must
 *    appear once (`1,234.56`, `1.234,56`).
 * 3. One kind appearing several times groups thousands (`1,234,567`,
 *    `1.234.567`, Indian `1,23,456`).
 * 4. One kind appearing once is the decimal point unless exactly three digits
 *    follow it (`1,23` → 1.23, `12.5` → 12.5, `0.1234` → 0.1234). Before
 *    exactly three digits it groups thousands (`1,234` → 1234, `1.234` → 1234),
 *    except when the integer part is 0 (`0.125`) or the currency has three
 *    decimals (KWD, BHD, …). A `decimal` hint replaces rule 4.
 * 5. Groups must be well formed (first group 1–3 digits, then groups of
 *    exactly 3, or Indian pairs then a final triple); otherwise the number is
 *    not a price. `12,-` / `12.–` mean a whole amount.
 *
 * **Which numbers are prices**: numbers touching a currency symbol or code win;
 * without any, every number that is not followed by `%` or a unit (`128GB`).
 * Two prices joined by a dash or "to" are a range (low, high). Two other prices
 * are a sale pair: a "was/statt/avant/RRP…" word marks the regular one, a
 * "now/sale/jetzt…" word the price; without words the lower is the price.
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { Price } from "@trawl/extract"
 *
 * const parsed = Option.getOrThrow(Price.parsePrice("1.234,56 €"))
 * parsed.price.amount // "1234.56"
 * parsed.currency // "EUR"
 *
 * Option.getOrThrow(Price.parsePrice("$12", { locale: "en-CA" })).currency // "CAD"
 * Option.getOrThrow(Price.parsePrice("$12")).ambiguous // true
 * ```
 *
 * @since 0.1.0
 */
export const parsePrice = (text: string, hints: PriceHints = {}): Option.Option<ParsedPrice> => {
  const s = normalizeText(text)
  const all = scanNumbers(s)
  const tokens = all.filter((t) => {
    const after = s.slice(t.end, t.end + 2)
    if (!UNIT_AFTER.test(after)) return true
    return markerAfter(s, t.end, t.end + 12) !== undefined
  })

  const markerOf = (token: NumberToken, index: number): Marker | undefined => {
    const prevEnd = index > 0 ? tokens[index - 1]!.end : 0
    const nextStart = index + 1 < tokens.length ? tokens[index + 1]!.start : s.length
    return closer(markerBefore(s, prevEnd, token.start), markerAfter(s, token.end, nextStart))
  }
  const markers = tokens.map(markerOf)

  // join ranges: "9.99 – 19.99 €", "$10 to $20"
  const groups: Array<Group> = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    const next = tokens[i + 1]
    if (next !== undefined) {
      const own = markers[i]
      const theirs = markers[i + 1]
      let betweenStart = token.end
      let betweenEnd = next.start
      if (own !== undefined && own.start >= token.end) betweenStart = own.end
      if (theirs !== undefined && theirs.end <= next.start) betweenEnd = theirs.start
      if (betweenStart <= betweenEnd && RANGE_BETWEEN.test(s.slice(betweenStart, betweenEnd))) {
        groups.push({ tokens: [token, next], marker: own ?? theirs, start: token.start, end: next.end })
        i++
        continue
      }
    }
    groups.push({ tokens: [token], marker: markers[i], start: token.start, end: token.end })
  }

  const marked = groups.filter((g) => g.marker !== undefined)
  const candidates = marked.length > 0 ? marked : groups

  const read = (group: Group) => {
    const resolved = resolveCurrency(group.marker, hints)
    const exponent = resolved.currency !== undefined ? exponentOf(resolved.currency) : undefined
    const amounts: Array<Price> = []
    for (const token of group.tokens) {
      const decimal = interpretNumber(token, exponent, hints.decimal)
      const price = decimal === undefined ? undefined : fromDecimal(decimal, resolved.currency)
      if (price === undefined) return undefined
      amounts.push(price)
    }
    return { group, resolved, amounts }
  }
  const readable = candidates.map(read).filter((r) => r !== undefined)

  if (readable.length === 0) {
    if (all.length > 0 || !FREE_WORDS.test(s)) return Option.none()
    const resolved = resolveCurrency(undefined, hints)
    return Option.some(
      new ParsedPrice({
        price: fromDecimal("0", resolved.currency)!,
        currency: resolved.currency,
        currencyCandidates: resolved.candidates,
        currencySource: resolved.source,
        ambiguous: resolved.ambiguous,
        from: false,
        free: true
      })
    )
  }

  const prefixOf = (index: number): string => {
    const start = index > 0 ? readable[index - 1]!.group.end : 0
    return s.slice(Math.max(start, readable[index]!.group.start - 40), readable[index]!.group.start)
  }
  let chosen = 0
  let regular: number | undefined
  if (readable.length >= 2) {
    const regularIndex = readable.findIndex((_, i) => REGULAR_WORDS.test(prefixOf(i)))
    const saleIndex = readable.findIndex((_, i) => SALE_WORDS.test(prefixOf(i)))
    if (regularIndex !== -1 || saleIndex !== -1) {
      chosen = saleIndex !== -1 ? saleIndex : readable.findIndex((_, i) => i !== regularIndex)
      regular = regularIndex !== -1 && regularIndex !== chosen ? regularIndex : undefined
    } else if (readable.length === 2) {
      const a = readable[0]!.amounts[0]!
      const b = readable[1]!.amounts[0]!
      const aLower = compare(a, b) <= 0
      chosen = aLower ? 0 : 1
      regular = compare(a, b) === 0 ? undefined : aLower ? 1 : 0
    }
  }

  const winner = readable[chosen]!
  const [low, high] = orderRange(winner.amounts)
  const regularPrice = regular === undefined ? undefined : readable[regular]!.amounts[0]
  return Option.some(
    new ParsedPrice({
      price: low,
      high,
      regular: regularPrice,
      currency: winner.resolved.currency,
      currencyCandidates: winner.resolved.candidates,
      currencySource: winner.resolved.source,
      ambiguous: winner.resolved.ambiguous,
      from: FROM_WORDS.test(prefixOf(chosen)),
      free: false
    })
  )
}

/**
 * Compares two prices by value (`-1`, `0`, `1`), whatever their scales.
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * Price.compare(Price.fromDecimal("1.5")!, Price.fromDecimal("1.50")!) // 0
 * ```
 *
 * @since 0.1.0
 */
export const compare = (a: Price, b: Price): -1 | 0 | 1 => {
  const scale = Math.max(a.scale, b.scale)
  const x = a.minor * 10n ** BigInt(scale - a.scale)
  const y = b.minor * 10n ** BigInt(scale - b.scale)
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * Whether two prices have the same value (`1.5` equals `1.50`).
 *
 * @example
 * ```ts
 * import { Price } from "@trawl/extract"
 *
 * Price.equals(Price.fromDecimal("2")!, Price.fromDecimal("2.00")!) // true
 * ```
 *
 * @since 0.1.0
 */
export const equals = (a: Price, b: Price): boolean => compare(a, b) === 0

const orderRange = (amounts: ReadonlyArray<Price>): readonly [Price, Price | undefined] => {
  const [a, b] = amounts
  if (b === undefined) return [a!, undefined]
  return compare(a!, b) <= 0 ? [a!, b] : [b, a!]
}
