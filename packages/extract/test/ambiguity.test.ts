import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, Result, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Extract, Price, Product, Rules } from "../src/index.ts"

const url = "https://shop.example.de/p/lamp"
const ok = (input: string, options: Partial<Extract.ExtractOptions> = {}) => {
  const result = Extract.extractProductResult(input, { url, ...options })
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}

const dir = Path.join(import.meta.dirname, "fixtures")
const fixture = (name: string) => {
  const { url } = JSON.parse(Fs.readFileSync(Path.join(dir, `${name}.json`), "utf8")) as { url: string }
  return ok(Fs.readFileSync(Path.join(dir, `${name}.html`), "utf8"), { url })
}

const jsonLd = (price: string, extra = "") =>
  `<script type="application/ld+json">{"@type":"Product","name":"Lamp"${extra},"offers":{"price":"${price}","priceCurrency":"EUR"}}</script>`
const microdata = (price: string, regular?: string) =>
  `<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Lamp</span>` +
  `<div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><span itemprop="price" content="${price}"></span>` +
  (regular === undefined
    ? ""
    : `<div itemprop="priceSpecification" itemscope itemtype="https://schema.org/UnitPriceSpecification">` +
      `<meta itemprop="priceType" content="https://schema.org/ListPrice"><meta itemprop="price" content="${regular}"></div>`) +
  `<meta itemprop="priceCurrency" content="EUR"></div></div>`
const og = (price: string) => `<meta property="og:price:amount" content="${price}"><meta property="og:price:currency" content="EUR">`

/** What an ambiguous reading must be: no price to use, and every price in contention with its evidence. */
const expectAmbiguous = (product: Product.Product, reason: Product.AmbiguityReason) => {
  expect(product.ambiguity?.reason).toBe(reason)
  expect(product.price).toBeUndefined()
  expect(product.high).toBeUndefined()
  expect(product.regular).toBeUndefined()
  expect(product.source).toBeUndefined()
  expect(product.confidence).toBe(0)
  const candidates = product.ambiguity!.candidates
  expect(candidates.length).toBeGreaterThanOrEqual(2)
  for (const candidate of candidates) {
    expect(candidate.price).toBeInstanceOf(Price.Price)
    expect(candidate.detail).not.toBe("")
    expect(candidate.confidence).toBeGreaterThan(0)
  }
  // they really disagree: at least two different amounts
  expect(new Set(candidates.map((c) => c.price!.minor * 10n ** BigInt(8 - c.price!.scale))).size).toBeGreaterThanOrEqual(2)
  expect(product.ambiguity!.detail).toContain(candidates[0]!.price!.amount)
  return candidates
}

const summary = (candidates: ReadonlyArray<Product.Candidate>) =>
  candidates.map((c) => `${c.source} ${c.price?.amount} ${c.currency ?? "?"}`)

describe("sources-disagree: two prices trusted about equally", () => {
  it("JSON-LD and microdata (a stale cached head): neither is picked", () => {
    const candidates = expectAmbiguous(fixture("ambiguous-price-jsonld-vs-microdata"), "sources-disagree")
    expect(summary(candidates)).toEqual(["json-ld 449.00 EUR", "microdata 399.00 EUR"])
    expect(candidates.map((c) => c.confidence)).toEqual([0.75, 0.7])
  })

  it("RDFa and the product meta tags", () => {
    const candidates = expectAmbiguous(fixture("ambiguous-price-rdfa-vs-meta"), "sources-disagree")
    expect(summary(candidates)).toEqual(["rdfa 59.00 GBP", "meta 64.00 GBP"])
  })

  it("the fast path checks a JSON-LD price the meta tags do not confirm against microdata", () => {
    const product = ok(`<head>${jsonLd("19.99")}</head><body>${microdata("24.99")}</body>`)
    expect(summary(expectAmbiguous(product, "sources-disagree"))).toEqual(["json-ld 19.99 EUR", "microdata 24.99 EUR"])
  })

  it("a third source siding with one of them is listed too", () => {
    const product = ok(`<head>${jsonLd("19.99")}${og("24.99")}</head><body>${microdata("24.99")}</body>`)
    // JSON-LD 0.9 − 0.15; microdata 0.85 + 0.04 − 0.15: one hundredth apart
    expect(summary(expectAmbiguous(product, "sources-disagree"))).toEqual(["json-ld 19.99 EUR", "microdata 24.99 EUR", "meta 24.99 EUR"])
  })

  it("a wider gap in trust is a decision, not a tie: JSON-LD over meta, microdata over meta", () => {
    const overMeta = ok(`<head>${jsonLd("19.99")}${og("24.99")}</head>`)
    expect(overMeta.ambiguity).toBeNull()
    expect(overMeta.price?.amount).toBe("19.99")
    expect(overMeta.source).toBe("json-ld")
    const microdataOverMeta = ok(`<head>${og("12.00")}</head><body>${microdata("11.00")}</body>`)
    expect(microdataOverMeta.ambiguity).toBeNull()
    expect(microdataOverMeta.price?.amount).toBe("11.00")
  })

  it("agreement decides: JSON-LD confirmed by the meta tags outweighs a differing microdata price", () => {
    const product = ok(`<head>${jsonLd("19.99")}${og("19.99")}</head><body>${microdata("24.99")}</body>`, { exhaustive: true })
    expect(product.ambiguity).toBeNull()
    expect(product.price?.amount).toBe("19.99")
  })

  it("the target's own rules overrule the page: never ambiguous", () => {
    const rules = new Rules.Rules({ price: new Rules.Rule({ selector: ".now" }) })
    const page = `<head>${jsonLd("999.00")}</head><body>${microdata("949.00")}<span class="now">899,00 €</span></body>`
    const product = ok(page, { rules, exhaustive: true })
    expect(product.ambiguity).toBeNull()
    expect(product.price?.amount).toBe("899.00")
    expect(product.source).toBe("rules")
  })

  it("not disagreements: a sale beside its regular price, a price inside a range, the same amount written differently", () => {
    const sale = ok(`<head>${jsonLd("79.00")}</head><body>${microdata("55.30", "79.00")}</body>`)
    expect(sale.ambiguity).toBeNull()
    expect(sale.price?.amount).toBe("79.00")
    const range = `<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"@type":"AggregateOffer",` +
      `"lowPrice":"59.00","highPrice":"149.00","priceCurrency":"EUR"}}</script>`
    const inRange = ok(`<head>${range}</head><body>${microdata("99.00")}</body>`)
    expect(inRange.ambiguity).toBeNull()
    expect([inRange.price?.amount, inRange.high?.amount]).toEqual(["59.00", "149.00"])
    const sameAmount = ok(`<head>${jsonLd("20")}</head><body>${microdata("20.00")}</body>`)
    expect(sameAmount.ambiguity).toBeNull()
    expect(sameAmount.price?.amount).toBe("20.00")
  })
})

describe("fallback-contradicts-primary: a broken JSON-LD block beside a weaker source", () => {
  it("its text names 349.00, og:price says 399.00", () => {
    const product = fixture("ambiguous-price-broken-jsonld-vs-og")
    const candidates = expectAmbiguous(product, "fallback-contradicts-primary")
    expect(summary(candidates)).toEqual(["json-ld 349.00 EUR", "meta 399.00 EUR"])
    expect(candidates[0]!.detail).toBe(`JSON-LD block 1 (invalid JSON): a "price" in its text`)
    // the fragment is evidence, not a reading: the candidates stay one per source
    expect(product.candidates.map((c) => c.source)).toEqual(["meta"])
    expect(product.notes).toEqual(["JSON-LD block 1: invalid JSON, skipped"])
  })

  it("its text names 89.00, the WooCommerce price element 79.00", () => {
    const candidates = expectAmbiguous(fixture("ambiguous-price-broken-jsonld-vs-platform"), "fallback-contradicts-primary")
    expect(summary(candidates)).toEqual(["json-ld 89.00 USD", "platform 79.00 USD"])
  })

  it("a broken block whose text agrees with the fallback, or names no price, changes nothing", () => {
    const broken = (offers: string) =>
      `<script type="application/ld+json">{"@type":"Product","name":"Lamp" "offers":${offers}}</script>`
    const agrees = ok(`<head>${broken(`{"price":"10.00","priceCurrency":"EUR"}`)}${og("10.00")}</head>`)
    expect(agrees.ambiguity).toBeNull()
    expect(agrees.price?.amount).toBe("10.00")
    const silent = ok(`<head>${broken(`{"price": `)}${og("10.00")}</head>`)
    expect(silent.ambiguity).toBeNull()
    expect(silent.price?.amount).toBe("10.00")
    // a text with several prices (the product and a related one) agrees when the fallback names one of them
    const several = `{"price":"10.00"},"isRelatedTo":{"@type":"Product","offers":{"price":"4.00"}}`
    expect(ok(`<head>${broken(several)}${og("4.00")}</head>`).ambiguity).toBeNull()
    expect(ok(`<head>${broken(several)}${og("12.00")}</head>`).ambiguity?.reason).toBe("fallback-contradicts-primary")
  })

  it("a whole structured entity outranks a fragment: microdata beside a broken block wins (jsonld-invalid-then-microdata)", () => {
    const product = fixture("jsonld-invalid-then-microdata")
    expect(product.ambiguity).toBeNull()
    expect(product.price?.amount).toBe("119.90")
    expect(product.source).toBe("microdata")
  })
})

describe("several-offers: products of one source, none the page's own", () => {
  it("a recommendations widget's top-level Product beside a main product named unlike the page", () => {
    const product = fixture("ambiguous-price-jsonld-two-products")
    const candidates = expectAmbiguous(product, "several-offers")
    expect(summary(candidates)).toEqual(["json-ld 59.90 USD", "json-ld 39.00 USD"])
    expect(candidates.map((c) => c.name)).toEqual(["EK-17", "T-2 toaster"])
    expect(candidates.map((c) => c.detail)).toEqual(["JSON-LD block 1 product", "JSON-LD block 2 product"])
    // the rivals' names and stock do not leak into the product
    expect(product.name).toBe("Steel electric kettle 1.7 l | HomeStore")
    expect(product.availability).toBe("Unknown")
  })

  it("only a carousel's ItemList has structured data: its first product is not the page's", () => {
    const candidates = expectAmbiguous(fixture("ambiguous-price-jsonld-itemlist"), "several-offers")
    expect(summary(candidates)).toEqual(["json-ld 49.00 AUD", "json-ld 19.95 AUD", "json-ld 6.50 AUD"])
  })

  it("microdata tiles at top level beside the main item", () => {
    const candidates = expectAmbiguous(fixture("ambiguous-price-microdata-tiles"), "several-offers")
    expect(summary(candidates)).toEqual(["microdata 79.99 EUR", "microdata 24.99 EUR"])
  })
})

describe("a decoy beside an identifiable main product: its price, not ambiguous", () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ["jsonld-decoy-canonical", "139.00", "its url is the page's <link rel=canonical> (the page URL has tracking parameters)"],
    ["jsonld-decoy-mainentity", "329.00", "the ItemPage's mainEntity"],
    ["jsonld-decoy-h1", "149.00", "named like the page's <h1>"],
    ["jsonld-decoy-itemlist", "1295.00", "the one top-level Product, the others in an ItemList"],
    ["jsonld-decoy-confirmed-by-og", "289.00", "og:price names exactly one of them"],
    ["microdata-decoy-tiles", "149.00", "microdata: named like the page's <h1>"],
    ["jsonld-main-and-related", "129.00", "its url is the page's"],
    ["microdata-nested-related", "199.99", "the related product is nested in it"],
    ["jsonld-isvariantof-range", "24.00", "variants of one group are a range, not rivals"]
  ]
  for (const [name, price, why] of cases) {
    it(`${name}: ${why}`, () => {
      const product = fixture(name)
      expect(product.ambiguity).toBeNull()
      expect(product.price?.amount).toBe(price)
      expect(product.confidence).toBeGreaterThan(0)
    })
  }

  it("the order of blocks is no evidence: the same two products either way round are ambiguous", () => {
    const a = `<script type="application/ld+json">{"@type":"Product","name":"A","offers":{"price":"10.00","priceCurrency":"EUR"}}</script>`
    const b = `<script type="application/ld+json">{"@type":"Product","name":"B","offers":{"price":"20.00","priceCurrency":"EUR"}}</script>`
    expect(ok(a + b).ambiguity?.reason).toBe("several-offers")
    expect(ok(b + a).ambiguity?.reason).toBe("several-offers")
    // … until the page names one
    expect(ok(`<title>B – Shop</title>${a}${b}`).price?.amount).toBe("20.00")
    expect(ok(`<meta property="og:title" content="A">${a}${b}`).price?.amount).toBe("10.00")
  })

  it("a top-level main product without a price does not borrow a related product's", () => {
    const page = `<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"availability":"https://schema.org/OutOfStock"},` +
      `"isRelatedTo":{"@type":"Product","name":"Bulb","offers":{"price":"4.00","priceCurrency":"EUR"}}}</script>`
    const product = ok(page)
    expect(product.price).toBeUndefined()
    expect(product.ambiguity).toBeNull()
    expect(product.availability).toBe("OutOfStock")
  })
})

describe("Product.ambiguity as data", () => {
  it("defaults to null in the constructor, so products built without it still construct", () => {
    const product = new Product.Product({ url, availability: "InStock", confidence: 1, candidates: [], notes: [] })
    expect(product.ambiguity).toBeNull()
  })

  it("an ambiguous product survives encode → structured clone (what postMessage does) → decode exactly", () => {
    const product = fixture("ambiguous-price-jsonld-vs-microdata")
    const encoded = Schema.encodeSync(Product.Product)(product)
    const back = Schema.decodeUnknownSync(Product.Product)(structuredClone(encoded))
    expect(back.ambiguity).toBeInstanceOf(Product.Ambiguity)
    expect(back.ambiguity?.candidates[1]?.price?.minor).toBe(39900n)
    expect(Schema.encodeSync(Product.Product)(back)).toEqual(encoded)
  })

  it.effect("counts an ambiguous page as outcome ambiguous, not as its first source", () =>
    Effect.gen(function*() {
      const counter = Extract.pagesExtracted.pipe(Metric.withAttributes({ outcome: "ambiguous" }))
      const before = (yield* Metric.value(counter)).count
      yield* Extract.extractProduct(`<head>${jsonLd("19.99")}</head><body>${microdata("24.99")}</body>`, { url })
      expect((yield* Metric.value(counter)).count).toBe(before + 1)
    }))
})
