import { describe, expect, it } from "vitest"
import { AlertText } from "../src/index.ts"

const base: AlertText.AlertLike = {
  key: "7:42",
  kind: "price_down",
  url: "https://shop.example/kettle",
  targetId: 7,
  oldPrice: { amount: "24.90", currency: "EUR" },
  newPrice: { amount: "19.90", currency: "EUR" },
  percent: "-20.08",
  failureStreak: 0,
  createdAt: Date.UTC(2026, 10, 24),
  productName: "Kettle"
}

describe("AlertText", () => {
  it("reads old → new with percent, the alert's product name and URL", () => {
    expect(AlertText.line(base)).toBe("price down: Kettle 24.90 EUR → 19.90 EUR (-20.08%) https://shop.example/kettle")
    expect(AlertText.line({ ...base, kind: "back_in_stock", oldPrice: null, productName: null })).toBe("back in stock: 19.90 EUR https://shop.example/kettle")
    expect(AlertText.line({ ...base, kind: "extraction_broken", failureStreak: 3 })).toBe("extraction broken: Kettle 3 failures in a row https://shop.example/kettle")
  })

  it("the notification carries the outbox key, the name and exact decimal prices", () => {
    const n = AlertText.notification(base)
    expect(n.key).toBe("7:42")
    expect(n.json).toMatchObject({ kind: "price_down", name: "Kettle", newPrice: { amount: "19.90", currency: "EUR" }, at: "2026-11-24T00:00:00.000Z" })
  })

  it("a rule's alert reads with its rule, and its JSON names it", () => {
    expect(AlertText.line({ ...base, kind: "price_below", rule: "below 20 EUR" })).toBe("below 20 EUR: Kettle 19.90 EUR (was 24.90 EUR) https://shop.example/kettle")
    expect(AlertText.line({ ...base, kind: "price_drop", rule: "drop 10%" })).toBe("price drop (drop 10%): Kettle 24.90 EUR → 19.90 EUR (-20.08%) https://shop.example/kettle")
    expect(AlertText.notification({ ...base, kind: "price_drop", rule: "drop 10%" }).json).toMatchObject({ kind: "price_drop", rule: "drop 10%" })
    expect(AlertText.notification(base).json).not.toHaveProperty("rule")
  })

  it("an alert without a name has no name field, and no gap in its line", () => {
    const n = AlertText.notification({ ...base, productName: null })
    expect(n.json).not.toHaveProperty("name")
    expect(n.text).toBe("price down: 24.90 EUR → 19.90 EUR (-20.08%) https://shop.example/kettle")
  })
})
