import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Decimal from "../src/internal/decimal.ts"
import * as Detect from "../src/internal/detect.ts"
import { validateUrl } from "../src/internal/url.ts"

const decimal = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.integer({ min: 0, max: 6 })).map(([units, scale]) => {
  const digits = units.toString().padStart(scale + 1, "0")
  return { text: scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`, units, scale }
})

describe("exact decimals", () => {
  it("compare agrees with scaled integer comparison, whatever the written scale", () => {
    fc.assert(fc.property(decimal, decimal, (a, b) => {
      const x = a.units * 10n ** BigInt(6 - a.scale)
      const y = b.units * 10n ** BigInt(6 - b.scale)
      assert.strictEqual(Decimal.compare(a.text, b.text), x < y ? -1 : x > y ? 1 : 0)
      assert.strictEqual(Decimal.compare(a.text, a.text + (a.scale === 0 ? ".000" : "000")), 0)
    }))
  })

  it("percentChange is the exact change rounded half away from zero", () => {
    assert.strictEqual(Decimal.percentChange("19.99", "24.99"), "25.01")
    assert.strictEqual(Decimal.percentChange("24.99", "12.495"), "-50.00")
    assert.strictEqual(Decimal.percentChange("3", "1"), "-66.67")
    assert.strictEqual(Decimal.percentChange("3", "4"), "33.33")
    assert.strictEqual(Decimal.percentChange("8", "8.0001"), "0.00")
    assert.strictEqual(Decimal.percentChange("8", "7.9999"), "0.00", "no negative zero")
    assert.strictEqual(Decimal.percentChange("0", "5"), undefined)
    fc.assert(fc.property(decimal, decimal, (a, b) => {
      fc.pre(a.units > 0n)
      const got = Decimal.percentChange(a.text, b.text)!
      // |got - exact| <= 0.005 with exact = (b - a) / a * 100, checked in integers (×10^4 × a)
      const [x, y] = [a.units * 10n ** BigInt(6 - a.scale), b.units * 10n ** BigInt(6 - b.scale)]
      const gotHundredths = BigInt(got.replace(".", ""))
      const error = gotHundredths * x - (y - x) * 10_000n
      assert.isTrue((error < 0n ? -error : error) * 2n <= x, `${a.text} -> ${b.text}: ${got}`)
    }))
  })
})

describe("change detection rules", () => {
  const start: Detect.TargetState = { amount: null, currency: null, availability: "unknown", failureStreak: 0, ambiguousStreak: 0, lastObservedAt: null }
  const seen = (observed: Partial<Detect.Observed>) => ({
    outcome: "ok" as const,
    observedAt: 1,
    amount: null,
    currency: null,
    availability: "unknown" as const,
    ...observed
  })

  it("an extraction_broken alert only at the threshold, once per streak", () => {
    let state = start
    const fired: Array<number> = []
    for (let i = 1; i <= 12; i++) {
      const { alerts, next } = Detect.detect(state, seen({ outcome: i === 7 ? "ok" : "error" }), 2, 3)
      if (alerts.some((a) => a.kind === "extraction_broken")) fired.push(i)
      state = next
    }
    assert.deepStrictEqual(fired, [2, 9])
  })

  it("price_ambiguous once per streak of ambiguous readings, at the threshold; an ambiguous reading keeps the last price and raises no price alert", () => {
    let state = Detect.detect(start, seen({ amount: "5", currency: "EUR", availability: "in_stock" }), 3, 2).next
    const fired: Array<string> = []
    const outcomes = ["ambiguous", "ambiguous", "ambiguous", "error", "ambiguous", "ok", "ambiguous", "ambiguous"] as const
    outcomes.forEach((outcome, i) => {
      const { alerts, next } = Detect.detect(state, seen({ outcome, observedAt: 10 + i, ...(outcome === "ok" ? { amount: "6", currency: "EUR", availability: "in_stock" } : {}) }), 3, 2)
      for (const alert of alerts) fired.push(`${i} ${alert.kind}`)
      state = next
      if (outcome === "ambiguous") assert.strictEqual(next.amount, i < 5 ? "5" : "6")
    })
    // the error between ambiguous readings neither ends nor extends the streak; the decided reading at 5 ends it
    assert.deepStrictEqual(fired, ["1 price_ambiguous", "5 price_up", "7 price_ambiguous"])
  })

  it("a reading without a price or availability keeps the last known ones", () => {
    const first = Detect.detect(start, seen({ amount: "5", currency: "EUR", availability: "in_stock" }), 3, 3).next
    const blank = Detect.detect(first, seen({ observedAt: 2 }), 3, 3)
    assert.deepStrictEqual(blank.alerts, [])
    assert.deepStrictEqual([blank.next.amount, blank.next.availability], ["5", "in_stock"])
  })
})

describe("target URL validation", () => {
  it("accepts http(s) with a host, normalises, drops the fragment", () => {
    assert.deepStrictEqual(validateUrl("HTTPS://Shop.Example:443/a b?x=1#frag"), { url: "https://shop.example/a%20b?x=1", host: "shop.example" })
    assert.deepStrictEqual(validateUrl("http://[::1]:8080/p"), { url: "http://[::1]:8080/p", host: "[::1]" })
  })

  it("rejects everything else with a reason", () => {
    for (const [url, reason] of [
      ["", /empty/],
      ["/p/1", /absolute/],
      ["mailto:a@b.example", /scheme mailto/],
      ["file:///etc/passwd", /scheme file/],
      ["https://a:b@shop.example/", /credentials/],
      ["https://shop.example/\n", /whitespace|control/],
      ["https://shop.example/\u0000x", /control/],
      [`https://shop.example/${"a".repeat(2100)}`, /longer than 2048/]
    ] as const) {
      const result = validateUrl(url)
      assert.isTrue("reason" in result, url)
      assert.match((result as { reason: string }).reason, reason)
    }
  })
})
