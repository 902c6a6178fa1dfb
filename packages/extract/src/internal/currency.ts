/**
 * Currency knowledge: ISO 4217 codes and their minor-unit exponents (from the
 * runtime's CLDR data through `Intl`), the symbols and words shops write, and
 * the region → currency table used to resolve ambiguous symbols.
 */

let isoCodes: ReadonlySet<string> | undefined

/** Every ISO 4217 code the runtime's ICU knows (lazily built once). */
export const isIsoCode = (code: string): boolean => {
  if (isoCodes === undefined) isoCodes = new Set(Intl.supportedValuesOf("currency"))
  return isoCodes.has(code)
}

const exponents = new Map<string, number>()

/**
 * Minor-unit exponent of a currency (USD 2, JPY 0, KWD 3), from the CLDR data
 * of the runtime's ICU (which differs from ISO 4217 for a few currencies that
 * have no coins in use, e.g. PKR and COP are 0). Unknown codes get 2,
 * the most common exponent, so amounts stay exact even when the currency is not.
 */
export const exponentOf = (code: string | undefined): number => {
  if (code === undefined) return 2
  const cached = exponents.get(code)
  if (cached !== undefined) return cached
  let exponent = 2
  if (isIsoCode(code)) {
    exponent = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions()
      .maximumFractionDigits ?? 2
  }
  exponents.set(code, exponent)
  return exponent
}

const DOLLARS = ["USD", "CAD", "AUD", "NZD", "MXN", "SGD", "HKD", "TWD", "ARS", "CLP", "COP"] as const
const KRONER = ["SEK", "NOK", "DKK", "ISK"] as const
const YEN_YUAN = ["JPY", "CNY"] as const
const RUPEES = ["INR", "PKR", "LKR", "NPR"] as const

/**
 * Symbols and words → the currencies they may denote. Matching is longest
 * first, so `US$` wins over `$`. `adjacent` symbols only count when they touch
 * the number (a lone `R` or `Q` in prose is not a currency).
 */
export const SYMBOLS: ReadonlyArray<readonly [symbol: string, codes: ReadonlyArray<string>, adjacent?: boolean]> = [
  ["US$", ["USD"]],
  ["U$S", ["USD"]],
  ["CA$", ["CAD"]],
  ["CAD$", ["CAD"]],
  ["C$", ["CAD"]],
  ["AU$", ["AUD"]],
  ["A$", ["AUD"]],
  ["NZ$", ["NZD"]],
  ["HK$", ["HKD"]],
  ["SG$", ["SGD"]],
  ["S$", ["SGD"]],
  ["MX$", ["MXN"]],
  ["NT$", ["TWD"]],
  ["R$", ["BRL"]],
  ["$", DOLLARS],
  ["€", ["EUR"]],
  ["£", ["GBP"]],
  ["CN¥", ["CNY"]],
  ["JP¥", ["JPY"]],
  ["¥", YEN_YUAN],
  ["円", ["JPY"]],
  ["元", ["CNY"]],
  ["RMB", ["CNY"]],
  ["₹", ["INR"]],
  ["Rs.", RUPEES],
  ["Rs", RUPEES],
  ["₽", ["RUB"]],
  ["руб.", ["RUB"]],
  ["руб", ["RUB"]],
  ["р.", ["RUB"], true],
  ["zł", ["PLN"]],
  ["zl", ["PLN"], true],
  ["Kč", ["CZK"]],
  ["Ft", ["HUF"], true],
  ["kr.", KRONER],
  ["kr", KRONER],
  ["Kr.", KRONER],
  ["Kr", KRONER],
  ["SFr.", ["CHF"]],
  ["Fr.", ["CHF"]],
  ["fr.", ["CHF"], true],
  ["₺", ["TRY"]],
  ["TL", ["TRY"], true],
  ["₩", ["KRW"]],
  ["원", ["KRW"]],
  ["₪", ["ILS"]],
  ["₫", ["VND"]],
  ["฿", ["THB"]],
  ["₱", ["PHP"]],
  ["lei", ["RON"], true],
  ["лв.", ["BGN"]],
  ["лв", ["BGN"]],
  ["₴", ["UAH"]],
  ["грн", ["UAH"]],
  ["Rp", ["IDR"], true],
  ["RM", ["MYR"], true],
  ["₦", ["NGN"]],
  ["د.إ", ["AED"]],
  ["Dhs", ["AED"], true],
  ["ج.م.", ["EGP"]],
  ["د.ك.", ["KWD"]],
  ["₡", ["CRC"]],
  ["₲", ["PYG"]],
  ["₸", ["KZT"]],
  ["₼", ["AZN"]],
  ["₾", ["GEL"]],
  ["৳", ["BDT"]],
  ["S/", ["PEN"], true],
  ["R", ["ZAR"], true],
  ["euros", ["EUR"]],
  ["euro", ["EUR"]],
  ["Euro", ["EUR"]],
  ["dollars", DOLLARS],
  ["yen", ["JPY"]]
]

/** Region → currency, for resolving an ambiguous symbol from a locale or a TLD. */
const REGION_CURRENCY: Readonly<Record<string, string>> = {
  US: "USD", CA: "CAD", AU: "AUD", NZ: "NZD", MX: "MXN", SG: "SGD", HK: "HKD", TW: "TWD", AR: "ARS", CL: "CLP",
  CO: "COP", SE: "SEK", NO: "NOK", DK: "DKK", IS: "ISK", JP: "JPY", CN: "CNY", IN: "INR", PK: "PKR", LK: "LKR",
  NP: "NPR", GB: "GBP", UK: "GBP", CH: "CHF", LI: "CHF", PL: "PLN", CZ: "CZK", HU: "HUF", RU: "RUB", TR: "TRY",
  KR: "KRW", IL: "ILS", VN: "VND", TH: "THB", PH: "PHP", RO: "RON", BG: "BGN", UA: "UAH", ID: "IDR", MY: "MYR",
  NG: "NGN", AE: "AED", EG: "EGP", KW: "KWD", BR: "BRL", ZA: "ZAR", PE: "PEN",
  DE: "EUR", AT: "EUR", FR: "EUR", IT: "EUR", ES: "EUR", PT: "EUR", NL: "EUR", BE: "EUR", LU: "EUR", IE: "EUR",
  FI: "EUR", GR: "EUR", SK: "EUR", SI: "EUR", EE: "EUR", LV: "EUR", LT: "EUR", MT: "EUR", CY: "EUR", HR: "EUR"
}

const regions = new Map<string, string | undefined>()

/** The region of a BCP 47 locale (`sv` → `SE`, `de_CH` → `CH`), or undefined. */
export const regionOf = (locale: string): string | undefined => {
  if (regions.has(locale)) return regions.get(locale)
  let region: string | undefined
  try {
    region = new Intl.Locale(locale.replace(/_/g, "-")).maximize().region
  } catch {
    region = undefined
  }
  regions.set(locale, region)
  return region
}

/** The currency of a locale's region (`en-CA` → `CAD`), or undefined. */
export const currencyOfLocale = (locale: string | undefined): string | undefined => {
  if (locale === undefined) return undefined
  const region = regionOf(locale)
  return region === undefined ? undefined : REGION_CURRENCY[region]
}

const TLD_REGION: Readonly<Record<string, string>> = {
  uk: "GB", au: "AU", nz: "NZ", ca: "CA", us: "US", mx: "MX", sg: "SG", hk: "HK", tw: "TW", ar: "AR", cl: "CL",
  co: "CO", se: "SE", no: "NO", dk: "DK", is: "IS", jp: "JP", cn: "CN", in: "IN", pk: "PK", lk: "LK", np: "NP",
  ch: "CH", pl: "PL", cz: "CZ", hu: "HU", ru: "RU", tr: "TR", kr: "KR", br: "BR", za: "ZA", de: "DE", fr: "FR",
  it: "IT", es: "ES", nl: "NL", at: "AT", be: "BE", fi: "FI", pt: "PT", ie: "IE"
}

/** A locale guessed from a URL's country-code TLD (`shop.example.se` → `und-SE`), or undefined. */
export const localeOfUrl = (url: string | undefined): string | undefined => {
  if (url === undefined) return undefined
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/:?#]+)/i.exec(url)
  if (match === null) return undefined
  const host = match[1]!.toLowerCase()
  const tld = host.slice(host.lastIndexOf(".") + 1)
  const region = TLD_REGION[tld]
  return region === undefined ? undefined : `und-${region}`
}

/**
 * A declared currency (`priceCurrency`, `og:price:currency`) as an ISO code:
 * codes are trimmed and upper-cased (`eur` → `EUR`), unambiguous symbols are
 * mapped (`€` → `EUR`); anything else is undefined.
 */
export const normalizeCurrency = (raw: string | undefined): string | undefined => {
  if (raw === undefined) return undefined
  const trimmed = raw.trim()
  const upper = trimmed.toUpperCase()
  if (/^[A-Z]{3}$/.test(upper) && isIsoCode(upper)) return upper
  const symbol = SYMBOLS.find(([s]) => s === trimmed)
  return symbol !== undefined && symbol[1].length === 1 ? symbol[1][0] : undefined
}
