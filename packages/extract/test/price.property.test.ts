import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import * as fc from "fast-check"
import { Price } from "../src/index.ts"

/** Locales with the currency their shops use; formatting comes from the runtime's CLDR data. */
const LOCALES: ReadonlyArray<readonly [locale: string, currency: string]> = [
  ["en-US", "USD"], ["en-GB", "GBP"], ["en-CA", "CAD"], ["fr-CA", "CAD"], ["en-AU", "AUD"], ["en-NZ", "NZD"],
  ["en-IN", "INR"], ["hi-IN", "INR"], ["de-DE", "EUR"], ["de-AT", "EUR"], ["fr-FR", "EUR"], ["es-ES", "EUR"],
  ["it-IT", "EUR"], ["nl-NL", "EUR"], ["pt-PT", "EUR"], ["fi-FI", "EUR"], ["de-CH", "CHF"], ["fr-CH", "CHF"],
  ["pl-PL", "PLN"], ["cs-CZ", "CZK"], ["hu-HU", "HUF"], ["ro-RO", "RON"], ["sv-SE", "SEK"], ["nb-NO", "NOK"],
  ["da-DK", "DKK"], ["ru-RU", "RUB"], ["uk-UA", "UAH"], ["tr-TR", "TRY"], ["ja-JP", "JPY"], ["zh-CN", "CNY"],
  ["ko-KR", "KRW"], ["zh-TW", "TWD"], ["th-TH", "THB"], ["id-ID", "IDR"], ["vi-VN", "VND"], ["he-IL", "ILS"],
  ["pt-BR", "BRL"], ["es-MX", "MXN"], ["ar-EG", "EGP"], ["ar-KW", "KWD"], ["en-KW", "KWD"], ["ar-BH", "BHD"]
]

const exponent = (currency: string): number =>
  new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2

/** A random exact amount for the currency: integer minor units, rendered as a plain decimal string. */
const amountFor = (currency: string) =>
  fc.bigInt({ min: 0n, max: 999_999_999_999n }).map((minor) => {
    const e = exponent(currency)
    const digits = minor.toString().padStart(e + 1, "0")
    return e === 0 ? digits : `${digits.slice(0, -e)}.${digits.slice(-e)}`
  })

const localeAndAmount = fc.constantFrom(...LOCALES).chain(([locale, currency]) =>
  fc.tuple(
    fc.constant(locale),
    fc.constant(currency),
    amountFor(currency),
    fc.constantFrom("symbol" as const, "narrowSymbol" as const, "code" as const)
  )
)

const format = (locale: string, currency: string, amount: string, display: "symbol" | "narrowSymbol" | "code") =>
  // Intl formats decimal strings exactly (no float round trip)
  new Intl.NumberFormat(locale, { style: "currency", currency, currencyDisplay: display }).format(
    amount as Intl.StringNumericLiteral
  )

describe("parsePrice property", () => {
  it("formats a random amount in a random locale and parses it back exactly (with the site's hints)", () => {
    fc.assert(
      fc.property(localeAndAmount, ([locale, currency, amount, display]) => {
        const text = format(locale, currency, amount, display)
        const parsed = Price.parsePrice(text, { locale, currency })
        expect(Option.isSome(parsed), text).toBe(true)
        const p = Option.getOrThrow(parsed)
        expect(p.price.amount, text).toBe(amount)
        expect(p.currency, text).toBe(currency)
        expect(p.price.minor, text).toBe(BigInt(amount.replace(".", "")))
      }),
      { numRuns: 2000 }
    )
  })

  it("parses the ISO-code form back exactly without any hints", () => {
    fc.assert(
      fc.property(localeAndAmount, ([locale, currency, amount]) => {
        const text = format(locale, currency, amount, "code")
        const p = Option.getOrThrow(Price.parsePrice(text))
        expect(p.price.amount, text).toBe(amount)
        expect(p.currency, text).toBe(currency)
      }),
      { numRuns: 1000 }
    )
  })

  it("never throws on arbitrary text and bounds its output", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: "grapheme" }), (text) => {
        const parsed = Price.parsePrice(text)
        if (Option.isSome(parsed)) expect(parsed.value.price.minor >= 0n).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })
})
