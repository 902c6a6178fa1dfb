/**
 * Exchange rates a user provides, for comparing a competitor group's offers
 * in one base currency: read from a file, offline (trawl never looks rates
 * up). Each rate says what one unit of a currency is worth in the base, as
 * of the file's date; amounts stay exact decimals.
 *
 * JSON: `{"base": "EUR", "date": "2026-12-01", "rates": {"USD": "0.92", "GBP": "1.17"}}`
 * (rates as numbers are read too). CSV: a header `currency,rate` and one row
 * per currency, plus the rows `base,EUR` and `date,2026-12-01`.
 *
 * @since 0.4.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as Decimal from "./internal/decimal.ts"

/**
 * Rates against `base` as of `date`: one unit of each currency in `rates` is
 * worth that many units of `base`.
 *
 * @example
 * ```ts
 * import { Rates } from "@trawl/store"
 *
 * const rates: Rates.Rates = { base: "EUR", date: "2026-12-01", rates: { USD: "0.92" } }
 * ```
 * @since 0.4.0
 */
export interface Rates {
  readonly base: string
  readonly date: string
  readonly rates: Readonly<Record<string, string>>
}

/**
 * A rates file that cannot be used: what is wrong, in one line.
 *
 * @example
 * ```ts
 * import { Rates } from "@trawl/store"
 *
 * new Rates.InvalidRates({ reason: "no base currency" }).message // "rates: no base currency"
 * ```
 * @since 0.4.0
 */
export class InvalidRates extends Data.TaggedError("InvalidRates")<{
  readonly reason: string
}> {
  override get message(): string {
    return `rates: ${this.reason}`
  }
}

const currencyPattern = /^[A-Z]{3}$/
const ratePattern = /^\d{1,12}(?:\.\d{1,12})?$/
const datePattern = /^\d{4}-\d{2}-\d{2}$/

const invalid = (reason: string) => Result.fail(new InvalidRates({ reason }))

const checked = (base: unknown, date: unknown, entries: ReadonlyArray<readonly [string, unknown]>): Result.Result<Rates, InvalidRates> => {
  if (typeof base !== "string" || !currencyPattern.test(base.trim().toUpperCase())) {
    return invalid(`the base currency ${base === undefined ? "is missing" : `'${String(base)}' is not a currency code`} (three letters, e.g. "base": "EUR")`)
  }
  if (typeof date !== "string" || !datePattern.test(date.trim()) || Number.isNaN(Date.parse(date.trim()))) {
    return invalid(`the rates' date ${date === undefined ? "is missing" : `'${String(date)}' is not a date`} (YYYY-MM-DD, e.g. "date": "2026-12-01")`)
  }
  const rates: Record<string, string> = {}
  for (const [key, value] of entries) {
    const currency = key.trim().toUpperCase()
    if (!currencyPattern.test(currency)) return invalid(`'${key}' is not a currency code (three letters)`)
    const text = typeof value === "number" && Number.isFinite(value) ? String(value) : typeof value === "string" ? value.trim() : ""
    if (!ratePattern.test(text) || Decimal.compare(text, "0") <= 0) return invalid(`the rate of ${currency} '${String(value)}' is not a positive decimal`)
    if (currency in rates) return invalid(`${currency} is given twice`)
    rates[currency] = text
  }
  const upperBase = base.trim().toUpperCase()
  rates[upperBase] = "1"
  return Result.succeed({ base: upperBase, date: date.trim(), rates })
}

/**
 * Reads a rates file's text, JSON or CSV (told apart by its first character).
 *
 * @example
 * ```ts
 * import { Rates } from "@trawl/store"
 * import { Result } from "effect"
 *
 * Result.getOrThrow(Rates.parse(`{"base":"EUR","date":"2026-12-01","rates":{"USD":"0.92"}}`)).rates.USD // "0.92"
 * Result.getOrThrow(Rates.parse("currency,rate\nbase,EUR\ndate,2026-12-01\nUSD,0.92")).base // "EUR"
 * ```
 * @since 0.4.0
 */
export const parse = (text: string): Result.Result<Rates, InvalidRates> => {
  const trimmed = text.replace(/^\uFEFF/, "").trim()
  if (trimmed.startsWith("{")) {
    let value: unknown
    try {
      value = JSON.parse(trimmed)
    } catch (error) {
      return invalid(`invalid JSON: ${(error as Error).message}`)
    }
    const { base, date, rates } = value as { base?: unknown; date?: unknown; rates?: unknown }
    if (typeof rates !== "object" || rates === null || Array.isArray(rates)) return invalid(`expected "rates": an object of currency → rate`)
    return checked(base, date, Object.entries(rates))
  }
  const lines = trimmed.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
  const header = lines[0]?.toLowerCase().replace(/\s/g, "")
  if (header !== "currency,rate") return invalid(`expected JSON or CSV with the header currency,rate`)
  let base: string | undefined
  let date: string | undefined
  const entries: Array<readonly [string, string]> = []
  for (const [index, line] of lines.slice(1).entries()) {
    const fields = line.split(",").map((field) => field.trim())
    if (fields.length !== 2) return invalid(`row ${index + 2}: expected currency,rate`)
    const [key, value] = fields as [string, string]
    if (key.toLowerCase() === "base") base = value
    else if (key.toLowerCase() === "date") date = value
    else entries.push([key, value])
  }
  return checked(base, date, entries)
}

/**
 * An amount in the base currency: `undefined` when the rates do not know its
 * currency.
 *
 * @example
 * ```ts
 * import { Rates } from "@trawl/store"
 *
 * Rates.toBase({ base: "EUR", date: "2026-12-01", rates: { EUR: "1", USD: "0.92" } }, "100.00", "USD") // "92.0000"
 * ```
 * @since 0.4.0
 */
export const toBase = (rates: Rates, amount: string, currency: string): string | undefined => {
  const rate = rates.rates[currency]
  return rate === undefined ? undefined : Decimal.multiply(amount, rate)
}
