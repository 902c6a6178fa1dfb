import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { Price } from "../src/index.ts"
import { ROWS } from "./price-strings.ts"

describe("parsePrice", () => {
  it("has at least 150 price strings", () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(150)
  })

  ROWS.forEach(([text, hints, expected], i) => {
    it(`#${i} ${JSON.stringify(text)} ${JSON.stringify(hints)}`, () => {
      const parsed = Price.parsePrice(text, hints)
      if (expected === null) {
        expect(Option.isNone(parsed)).toBe(true)
        return
      }
      if (Option.isNone(parsed)) throw new Error("no price parsed")
      const p = parsed.value
      expect(p.price.amount).toBe(expected.amount)
      expect(p.price.minor).toBe(BigInt(expected.amount.replace(".", "")))
      if (expected.c === null) expect(p.currency).toBeUndefined()
      else if (expected.c !== undefined) expect(p.currency).toBe(expected.c)
      expect(p.high?.amount).toBe(expected.high)
      expect(p.regular?.amount).toBe(expected.regular)
      if (expected.ambiguous !== undefined) expect(p.ambiguous).toBe(expected.ambiguous)
      expect(p.from).toBe(expected.from ?? false)
      expect(p.free).toBe(expected.free ?? false)
    })
  })
})

describe("separator rules", () => {
  const amount = (text: string, hints: Price.PriceHints = {}) =>
    Option.getOrThrow(Price.parsePrice(text, hints)).price.amount

  it("both separators: the last one is the decimal point", () => {
    expect(amount("1,234.56")).toBe("1234.56")
    expect(amount("1.234,56")).toBe("1234.56")
  })
  it("one separator repeated: thousands", () => {
    expect(amount("1,234,567")).toBe("1234567.00")
    expect(amount("1.234.567")).toBe("1234567.00")
    expect(amount("1,23,45,678")).toBe("12345678.00")
  })
  it("one separator once: decimal unless exactly three digits follow", () => {
    expect(amount("1,23")).toBe("1.23")
    expect(amount("1,2")).toBe("1.20")
    expect(amount("1,2345")).toBe("1.2345")
    expect(amount("1,234")).toBe("1234.00")
    expect(amount("1.234")).toBe("1234.00")
  })
  it("three digits after a lone separator are decimals for a zero integer part or a three-decimal currency", () => {
    expect(amount("0,125")).toBe("0.125")
    expect(amount("1.234 KWD")).toBe("1.234")
    expect(amount("1.234", { currency: "BHD" })).toBe("1.234")
  })
  it("a decimal hint replaces the three-digit rule", () => {
    expect(amount("1,234", { decimal: "," })).toBe("1.234")
    expect(amount("1,234", { decimal: "." })).toBe("1234.00")
  })
  it("malformed groups are not prices", () => {
    expect(Option.isNone(Price.parsePrice("12,34,5"))).toBe(true)
    expect(Option.isNone(Price.parsePrice("1,2345,678"))).toBe(true)
  })
})

describe("Price", () => {
  it("scales to the currency exponent and keeps extra written digits exactly", () => {
    expect(Price.fromDecimal("12.5", "EUR")).toMatchObject({ amount: "12.50", minor: 1250n, scale: 2 })
    expect(Price.fromDecimal("1299", "JPY")).toMatchObject({ amount: "1299", minor: 1299n, scale: 0 })
    expect(Price.fromDecimal("1.799", "USD")).toMatchObject({ amount: "1.799", minor: 1799n, scale: 3 })
    expect(Price.fromDecimal("007.10", "KWD")).toMatchObject({ amount: "7.100", minor: 7100n, scale: 3 })
    expect(Price.fromDecimal("-1")).toBeUndefined()
    expect(Price.fromDecimal("1e3")).toBeUndefined()
  })
  it("reads machine values literally with '.' as the decimal point", () => {
    expect(Price.fromMachine("1.234", "EUR")?.amount).toBe("1.234")
    expect(Price.fromMachine(19.9, "USD")?.amount).toBe("19.90")
    expect(Price.fromMachine(1e21, "USD")).toBeUndefined()
    expect(Price.fromMachine(Number.NaN)).toBeUndefined()
    expect(Price.fromMachine("12,99 €", "EUR")?.amount).toBe("12.99")
  })
  it("compares by value across scales", () => {
    expect(Price.equals(Price.fromDecimal("1.5")!, Price.fromDecimal("1.500", "KWD")!)).toBe(true)
    expect(Price.compare(Price.fromDecimal("2", "JPY")!, Price.fromDecimal("1.99")!)).toBe(1)
  })
})
