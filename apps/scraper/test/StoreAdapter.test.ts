import { Price, Product } from "@trawl/extract"
import { describe, expect, it } from "vitest"
import type * as Pipeline from "../src/Pipeline.ts"
import * as StoreAdapter from "../src/StoreAdapter.ts"

const target: Pipeline.Target = { id: 3, host: "shop.example", url: "https://shop.example/p/3", intervalMillis: 60_000 }

const product = (fields: Partial<ConstructorParameters<typeof Product.Product>[0]>) =>
  new Product.Product({ url: target.url, availability: "InStock", confidence: 1, candidates: [], notes: [], ...fields })

const outcome = (fields: Partial<Pipeline.Outcome>): Pipeline.Outcome => ({
  target,
  at: 1_700_000_000_000,
  status: 200,
  notModified: false,
  lagMillis: 0,
  ...fields
})

describe("StoreAdapter.toObservation", () => {
  it("hands the store the page's product name with every observation that read one", () => {
    const price = new Price.Price({ amount: "12.50", minor: 1250n, scale: 2 })
    const ok = StoreAdapter.toObservation(outcome({ product: product({ name: "Kettle", price, currency: "EUR" }) }))
    expect([ok.outcome, ok.price?.amount, ok.productName]).toEqual(["ok", "12.50", "Kettle"])
    // read, but no price: out of stock is a reading, anything else a failure; both keep the name
    const soldOut = StoreAdapter.toObservation(outcome({ product: product({ name: "Kettle", availability: "OutOfStock" }) }))
    expect([soldOut.outcome, soldOut.productName]).toEqual(["ok", "Kettle"])
    const noPrice = StoreAdapter.toObservation(outcome({ product: product({ name: "Kettle" }) }))
    expect([noPrice.outcome, noPrice.errorTag, noPrice.productName]).toEqual(["error", "NoPrice", "Kettle"])
  })

  it("no name when nothing was read or the page has none", () => {
    const price = new Price.Price({ amount: "1", minor: 1n, scale: 0 })
    expect(StoreAdapter.toObservation(outcome({ product: product({ price, currency: "EUR" }) })).productName).toBeUndefined()
    expect(StoreAdapter.toObservation(outcome({ status: 304, notModified: true })).productName).toBeUndefined()
    expect(StoreAdapter.toObservation(outcome({ status: undefined, error: { tag: "ConnectFailed", message: "refused" } })).productName).toBeUndefined()
  })
})
