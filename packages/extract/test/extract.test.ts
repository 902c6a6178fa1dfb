import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Metric, Result } from "effect"
import { Extract, Rules } from "../src/index.ts"

const url = "https://shop.example.de/p/lamp"
const ok = (input: string | Uint8Array, options: Partial<Extract.ExtractOptions> = {}) => {
  const result = Extract.extractProductResult(input, { url, ...options })
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}

const jsonLd = (price: string) =>
  `<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"${price}","priceCurrency":"EUR"}}</script>`
const microdata = (price: string) =>
  `<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Lamp MD</span>` +
  `<div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><span itemprop="price" content="${price}"></span>` +
  `<meta itemprop="priceCurrency" content="EUR"><link itemprop="availability" href="https://schema.org/InStock"></div></div>`
const og = (price: string) => `<meta property="og:price:amount" content="${price}"><meta property="og:price:currency" content="EUR">`
const platform = (price: string) => `<div class="product-price">${price} €</div>`

describe("extractProduct", () => {
  it("the fast path skips the DOM when JSON-LD has a price: DOM-only sources are not read", () => {
    const product = ok(`<html><head>${jsonLd("10.00")}${og("10.00")}</head><body>${microdata("11.00")}</body></html>`)
    expect(product.source).toBe("json-ld")
    expect(product.candidates.map((c) => c.source)).toEqual(["json-ld", "meta"])
  })

  it("exhaustive reads every source; candidates are winner first, then in order of trust", () => {
    const page = `<html><head>${og("10.00")}${jsonLd("10.00")}</head><body>${microdata("10.00")}${platform("10,00")}</body></html>`
    const product = ok(page, { exhaustive: true })
    expect(product.candidates.map((c) => c.source)).toEqual(["json-ld", "microdata", "meta", "platform"])
    // availability is filled in from the next source that has it
    expect(product.availability).toBe("InStock")
    // agreement raises confidence: 0.9 + 2 × 0.04 (capped at +0.08)
    expect(product.confidence).toBe(0.98)
  })

  it("rules outrank every other source; disagreement lowers confidence", () => {
    const page = `<html><head>${jsonLd("999.00")}</head><body><span class="now">899,00 €</span></body></html>`
    const rules = new Rules.Rules({ price: new Rules.Rule({ selector: ".now" }) })
    const product = ok(page, { rules })
    expect(product.source).toBe("rules")
    expect(product.price?.amount).toBe("899.00")
    expect(product.currency).toBe("EUR")
    expect(product.confidence).toBe(0.8)
    expect(product.candidates[1]?.source).toBe("json-ld")
    expect(product.candidates[1]?.price?.amount).toBe("999.00")
    expect(product.name).toBe("Lamp")
  })

  it("microdata outranks meta, so a meta price does not skip the DOM when microdata exists", () => {
    const product = ok(`<head>${og("12.00")}</head><body>${microdata("11.00")}</body>`)
    expect(product.source).toBe("microdata")
    expect(product.price?.amount).toBe("11.00")
    expect(product.candidates.map((c) => c.source)).toEqual(["microdata", "meta"])
  })

  it("the page's JSON-LD currency is a hint for the other sources", () => {
    const page = `<script type="application/ld+json">{"@type":"Product","name":"X","offers":{"priceCurrency":"CAD","availability":"InStock"}}</script>` +
      `<div class="product-price">$24.00</div>`
    const product = ok(page, { url: "https://shop.example.com/x" })
    expect(product.price?.amount).toBe("24.00")
    expect(product.currency).toBe("CAD")
    expect(product.source).toBe("platform")
  })

  it("normalizes declared currencies: lower-case codes and unambiguous symbols", () => {
    const page = `<script type="application/ld+json">{"@type":"Product","name":"A","offers":{"price":"5","priceCurrency":" eur "}}</script>`
    expect(ok(page).currency).toBe("EUR")
    const meta = `<meta property="og:price:amount" content="5"><meta property="og:price:currency" content="£">`
    expect(ok(meta).currency).toBe("GBP")
    const bogus = `<meta property="og:price:amount" content="5"><meta property="og:price:currency" content="dollars">`
    expect(ok(bogus, { url: "https://x.example.com/" }).currency).toBeUndefined()
  })

  it("rescales to the final currency's exponent (JPY has no minor unit)", () => {
    const page = `<meta property="product:price:amount" content="1299"><meta property="product:price:currency" content="JPY">`
    const product = ok(page)
    expect(product.price).toMatchObject({ amount: "1299", minor: 1299n, scale: 0 })
  })

  it("decodes bytes with the given charset", () => {
    const bytes = new Uint8Array([...new TextEncoder().encode(`<meta property="og:title" content="Caf`), 0xe9,
      ...new TextEncoder().encode(`"><meta property="og:price:amount" content="3.50"><meta property="og:price:currency" content="EUR">`)])
    expect(ok(bytes, { charset: "windows-1252" }).name).toBe("Café")
    expect(ok(bytes, { charset: "no-such-charset" }).price?.amount).toBe("3.50")
  })

  it("sniffs the charset from a byte-order mark or a <meta charset> when none is given", () => {
    const latin1 = new Uint8Array([...new TextEncoder().encode(`<meta charset="iso-8859-1"><meta property="og:title" content="Cr`), 0xe8,
      ...new TextEncoder().encode(`me"><meta property="og:price:amount" content="4.00"><meta property="og:price:currency" content="EUR">`)])
    expect(ok(latin1).name).toBe("Crème")
    const text = `<meta property="og:title" content="Ünïcode"><meta property="og:price:amount" content="5"><meta property="og:price:currency" content="EUR">`
    const utf16 = new Uint8Array(2 + text.length * 2)
    utf16[0] = 0xff
    utf16[1] = 0xfe
    for (let i = 0; i < text.length; i++) {
      utf16[2 + i * 2] = text.charCodeAt(i) & 0xff
      utf16[3 + i * 2] = text.charCodeAt(i) >> 8
    }
    const product = ok(utf16)
    expect(product.name).toBe("Ünïcode")
    expect(product.price?.amount).toBe("5.00")
  })

  it("a pattern rule without a selector runs on the raw HTML", () => {
    const rules = new Rules.Rules({
      price: new Rules.Rule({ pattern: "data-final=\"([\\d.]+)\"" }),
      currency: new Rules.Rule({ pattern: "currency: '(\\w+)'" })
    })
    const product = ok(`<div data-final="15.25"></div><script>currency: 'CHF'</script>`, { rules })
    expect(product.price?.amount).toBe("15.25")
    expect(product.currency).toBe("CHF")
  })

  it.effect("counts each outcome in the pagesExtracted metric", () =>
    Effect.gen(function*() {
      const metaCounter = Extract.pagesExtracted.pipe(Metric.withAttributes({ outcome: "meta" }))
      const emptyCounter = Extract.pagesExtracted.pipe(Metric.withAttributes({ outcome: "Empty" }))
      const before = (yield* Metric.value(metaCounter)).count
      yield* Extract.extractProduct(og("1.00"), { url })
      yield* Extract.extractProduct(og("2.00"), { url })
      yield* Effect.flip(Extract.extractProduct(" ", { url }))
      expect((yield* Metric.value(metaCounter)).count).toBe(before + 2)
      expect((yield* Metric.value(emptyCounter)).count).toBeGreaterThanOrEqual(1)
    }))

  it.effect("reads limits from configuration, defaulting each one", () =>
    Effect.gen(function*() {
      const limits = yield* Extract.limitsConfig
      expect(limits).toEqual({ ...Extract.defaultLimits, maxBytes: 1000 })
      const tiny = "<p>" + "x".repeat(2000) + "</p>"
      const error = yield* Effect.flip(Extract.extractProduct(tiny, { url, limits }))
      expect(error.reason).toBe("TooLarge")
    }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ EXTRACT_MAX_BYTES: "1000" })))))
})
