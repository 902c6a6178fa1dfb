import { describe, expect, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as fc from "fast-check"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Extract, ExtractError, Rules } from "../src/index.ts"

const url = "https://shop.example.com/p/1"
const run = (input: string | Uint8Array, options: Partial<Extract.ExtractOptions> = {}) =>
  Extract.extractProductResult(input, { url, ...options })

const failure = (result: Result.Result<unknown, ExtractError.ExtractError>): ExtractError.ExtractError => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure
}
const success = <A>(result: Result.Result<A, ExtractError.ExtractError>): A => {
  if (Result.isFailure(result)) throw new Error(`unexpected failure: ${result.failure.message}`)
  return result.success
}

const PRODUCT_JSONLD =
  `<script type="application/ld+json">{"@type":"Product","name":"Deep","offers":{"price":"5.00","priceCurrency":"EUR"}}</script>`

describe("bad input", () => {
  it("empty text and empty bytes fail with Empty", () => {
    expect(failure(run("")).reason).toBe("Empty")
    expect(failure(run("  \n\t ")).reason).toBe("Empty")
    expect(failure(run(new Uint8Array(0))).reason).toBe("Empty")
    expect(failure(run("")).message).toContain(url)
  })

  it("binary bodies fail with Binary", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52])
    expect(failure(run(png)).reason).toBe("Binary")
    const gzip = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03])
    expect(failure(run(gzip)).reason).toBe("Binary")
    expect(failure(run("<html>\u0000\u0001\u0002</html>")).reason).toBe("Binary")
    const noise = String.fromCharCode(...Array.from({ length: 2000 }, (_, i) => (i * 7919) % 31 + 1))
    expect(failure(run(noise)).reason).toBe("Binary")
  })

  it("a 20 MB page fails fast with TooLarge under the default limit", () => {
    const page = `<html><body>${"<div class=\"x\">filler text</div>".repeat(20 * 1024 * 1024 / 32)}</body></html>`
    expect(page.length).toBeGreaterThan(20_000_000)
    const error = failure(run(page))
    expect(error.reason).toBe("TooLarge")
    expect(failure(run(new Uint8Array(20 * 1024 * 1024).fill(60))).reason).toBe("TooLarge")
  })

  it("a 20 MB page within a raised limit is read, DOM-capped, and still yields its product", () => {
    const filler = "<div class=\"x\"><span>filler</span></div>".repeat(20 * 1024 * 1024 / 38)
    const page = `<html><head>${PRODUCT_JSONLD}</head><body>${filler}</body></html>`
    const product = success(run(page, { limits: { maxBytes: 32 * 1024 * 1024 }, exhaustive: true }))
    expect(product.price?.amount).toBe("5.00")
    expect(product.notes.some((n) => n.startsWith("DOM capped"))).toBe(true)
  })

  it("deeply nested markup is flattened past the depth cap: linear time, no stack overflow, product still read", () => {
    const depth = 200_000
    const page = `<html><body>${"<div>".repeat(depth)}<div itemscope itemtype="https://schema.org/Product">` +
      `<span itemprop="name">Deep</span><div itemprop="offers" itemscope itemtype="https://schema.org/Offer">` +
      `<meta itemprop="price" content="7.50"><meta itemprop="priceCurrency" content="GBP"></div></div>` +
      `${"</div>".repeat(depth)}</body></html>`
    const product = success(run(page))
    // the microdata scope is flattened away past the cap; the fast path still sees the itemprop meta tags
    expect(product.source).toBe("meta")
    expect(product.price?.amount).toBe("7.50")
    expect(product.currency).toBe("GBP")
    expect(product.notes.some((n) => n.startsWith("DOM capped"))).toBe(true)
  })

  it("deeply nested JSON-LD is skipped or bounded, never a crash", () => {
    const arrays = `<script type="application/ld+json">${"[".repeat(500_000)}${"]".repeat(500_000)}</script>`
    const objects = `<script type="application/ld+json">${"{\"a\":".repeat(50_000)}1${"}".repeat(50_000)}</script>`
    const meta = `<meta property="product:price:amount" content="3.00"><meta property="product:price:currency" content="USD">`
    const product = success(run(`<html><head>${arrays}${objects}${meta}</head></html>`))
    expect(product.price?.amount).toBe("3.00")
    expect(product.source).toBe("meta")
  })

  it("invalid JSON-LD is noted and the next source is used", () => {
    const page = `<script type="application/ld+json">{"@type": "Product", "offers": {"price": </script>` +
      `<script type="application/ld+json">not json at all</script>` +
      `<meta property="og:price:amount" content="10"><meta property="og:price:currency" content="EUR">`
    const product = success(run(page))
    expect(product.source).toBe("meta")
    expect(product.notes).toEqual(["JSON-LD block 1: invalid JSON, skipped", "JSON-LD block 2: invalid JSON, skipped"])
  })

  it("</script> inside a JSON-LD string ends the block as in a browser; the page is still read", () => {
    const page = `<script type="application/ld+json">{"@type":"Product","name":"a </script> b","offers":{"price":"1"}}</script>` +
      `<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Real</span>` +
      `<span itemprop="offers" itemscope itemtype="https://schema.org/Offer"><span itemprop="price" content="2.00"></span>` +
      `<meta itemprop="priceCurrency" content="EUR"></span></div>`
    const product = success(run(page))
    expect(product.source).toBe("microdata")
    expect(product.price?.amount).toBe("2.00")
    expect(product.notes).toHaveLength(1)
  })

  it("every truncation of a real page returns a product or a typed error, never a throw", () => {
    const page = Fs.readFileSync(Path.join(import.meta.dirname, "fixtures", "microdata-basic.html"), "utf8")
    for (let cut = 0; cut <= page.length; cut += 3) {
      const result = run(page.slice(0, cut), { exhaustive: true })
      if (Result.isFailure(result)) expect(result.failure.reason).toBe("Empty")
    }
    const full = success(run(page))
    expect(full.price?.amount).toBe("249.00")
  })

  it("random tag soup never throws", () => {
    const token = fc.constantFrom(
      "<div>", "</div>", "<script type=\"application/ld+json\">", "</script>", "{\"@type\":\"Product\",", "\"price\":",
      "\"12,90 €\"", "}", "<meta property=\"og:price:amount\" content=\"", "\">", "<!--", "-->", "<span itemprop=\"price\">",
      "itemscope ", "<p class='price'>", "$9.99", "&amp;", "&#x0;", "<", ">", "\"", "'", "<table><tr><td>", "<style>", "</style>"
    )
    fc.assert(
      fc.property(fc.array(token, { maxLength: 80 }), fc.boolean(), (tokens, exhaustive) => {
        const result = run(`x${tokens.join("")}`, { exhaustive })
        expect(Result.isSuccess(result) || result.failure._tag === "ExtractError").toBe(true)
      }),
      { numRuns: 500 }
    )
  })
})

describe("rules errors", () => {
  it("an unsupported selector, a bad regex, or an empty rule fail with InvalidRule", () => {
    const bad = (rule: Rules.Rule) => failure(run("<p>1</p>", { rules: new Rules.Rules({ price: rule }) }))
    expect(bad(new Rules.Rule({ selector: "p::after" })).reason).toBe("InvalidRule")
    expect(bad(new Rules.Rule({ selector: "p:hover" })).message).toContain("unsupported pseudo-class :hover")
    expect(bad(new Rules.Rule({ selector: "div >" })).reason).toBe("InvalidRule")
    expect(bad(new Rules.Rule({ pattern: "([a-z" })).reason).toBe("InvalidRule")
    expect(bad(new Rules.Rule({ attribute: "content" })).message).toContain("needs a selector or a pattern")
  })
})

describe("Effect API", () => {
  it.effect("fails in the error channel with a typed ExtractError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Extract.extractProduct("", { url }))
      expect(error._tag).toBe("ExtractError")
      expect(error.reason).toBe("Empty")
      const product = yield* Extract.extractProduct(PRODUCT_JSONLD, { url })
      expect(product.price?.minor).toBe(500n)
    }))
})
