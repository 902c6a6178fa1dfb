import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Worker } from "node:worker_threads"
import { Extract, ExtractError, Price, Product } from "../src/index.ts"

/** Sends a value through a real worker thread (structured clone both ways) and returns what comes back. */
const throughWorker = (value: unknown): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(
      `const { parentPort } = require("node:worker_threads"); parentPort.once("message", (m) => parentPort.postMessage(m))`,
      { eval: true }
    )
    const timer = setTimeout(() => {
      void worker.terminate()
      reject(new Error("worker did not answer within 10 s"))
    }, 10_000)
    worker.once("message", (message) => {
      clearTimeout(timer)
      void worker.terminate().then(() => resolve(message))
    })
    worker.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    worker.postMessage(value)
  })

const html = Fs.readFileSync(Path.join(import.meta.dirname, "fixtures", "jsonld-price-specification.html"), "utf8")

describe("Schema classes cross threads", () => {
  it("a Product survives encode → worker thread → decode exactly, bigint minor units included", async () => {
    const result = Extract.extractProductResult(html, { url: "https://www.elektro-markt.example.at/tv/oled-55", exhaustive: true })
    if (Result.isFailure(result)) throw new Error(result.failure.message)
    const product = result.success
    const encoded = Schema.encodeSync(Product.Product)(product)
    const back = Schema.decodeUnknownSync(Product.Product)(await throughWorker(encoded))
    expect(back).toBeInstanceOf(Product.Product)
    expect(back.price).toBeInstanceOf(Price.Price)
    expect(back.price?.minor).toBe(129900n)
    expect(back.regular?.amount).toBe("1599.00")
    expect(back.candidates.map((c) => c.source)).toEqual(product.candidates.map((c) => c.source))
    expect(Schema.encodeSync(Product.Product)(back)).toEqual(encoded)
  })

  it("an ExtractError survives the trip with its tag and reason", async () => {
    const result = Extract.extractProductResult("", { url: "https://shop.example/empty" })
    if (Result.isSuccess(result)) throw new Error("expected a failure")
    const encoded = Schema.encodeSync(ExtractError.ExtractError)(result.failure)
    const back = Schema.decodeUnknownSync(ExtractError.ExtractError)(await throughWorker(encoded))
    expect(back).toBeInstanceOf(ExtractError.ExtractError)
    expect(back._tag).toBe("ExtractError")
    expect(back.reason).toBe("Empty")
  })

  it("decoding rejects a float price or a malformed amount", () => {
    const decode = Schema.decodeUnknownSync(Price.Price)
    expect(() => decode({ amount: "12.5.0", minor: 1250n, scale: 2 })).toThrow()
    expect(() => decode({ amount: "12.50", minor: 12.5, scale: 2 })).toThrow()
    expect(() => decode({ amount: "12.50", minor: 1250n, scale: 1.5 })).toThrow()
    expect(() => decode({ amount: "12.50", minor: 1251n, scale: 2 })).toThrow()
    expect(() => decode({ amount: "12.5", minor: 125n, scale: 2 })).toThrow()
    expect(decode({ amount: "12.50", minor: 1250n, scale: 2 }).minor).toBe(1250n)
  })
})
