/**
 * The DOM-free microdata/RDFa pass against the DOM walk: on every sim-web
 * markup style (pages rendered by the harness's own renderer, many seeds and
 * products, in their shops' charsets), on every fixture page, and on random
 * tag soup, the items and the extracted product must be exactly the same.
 */
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import * as Fs from "node:fs"
import * as Path from "node:path"
// dev-only, by relative path: @trawl/extract must not depend on the harness (which depends on it)
import { encode } from "../../../test/src/internal/encode.ts"
import * as Render from "../../../test/src/internal/render.ts"
import * as Truth from "../../../test/src/Truth.ts"
import * as World from "../../../test/src/World.ts"
import { Extract, Product, Rules } from "../src/index.ts"
import * as Dom from "../src/internal/dom.ts"
import { scanItems, switches } from "../src/internal/itemScan.ts"
import { microdataItems, rdfaItems } from "../src/internal/markup.ts"

const limits = { maxDepth: Extract.defaultLimits.maxDepth, maxElements: Extract.defaultLimits.maxElements }

const domItems = (html: string) => {
  const document = Dom.parse(html, limits)
  return { microdata: microdataItems(document), rdfa: rdfaItems(document) }
}

const encodeProduct = Schema.encodeSync(Product.Product)

/** The whole result as JSON (bigints as strings), so any difference in any field shows. */
const outcome = (result: Result.Result<Product.Product, { readonly reason: string }>): string =>
  JSON.stringify(
    Result.isFailure(result) ? { failure: result.failure.reason } : encodeProduct(result.success),
    (_key, value) => (typeof value === "bigint" ? String(value) : value)
  )

/** The product with the DOM-free pass, and with the DOM walk. */
const bothWays = (input: string | Uint8Array, options: Extract.ExtractOptions) => {
  switches.enabled = true
  const fast = outcome(Extract.extractProductResult(input, options))
  switches.enabled = false
  try {
    return { fast, dom: outcome(Extract.extractProductResult(input, options)) }
  } finally {
    switches.enabled = true
  }
}

interface SimPage {
  readonly style: Truth.Style
  readonly url: string
  readonly bytes: Buffer
  readonly charset: string
  readonly price: string
}

/** Sim-web product pages until every style has `perStyle` of them, over several worlds. */
const simPages = (perStyle: number): Array<SimPage> => {
  const pages: Array<SimPage> = []
  const count = new Map<Truth.Style, number>()
  const at = Date.UTC(2026, 0, 1)
  for (const seed of [1, 7, 42, 2026, 99_991]) {
    const world = World.make({ seed, shops: 400, hostileFraction: 0 })
    for (let i = 0; i < world.shops * world.products; i++) {
      if (Truth.styles.every((style) => (count.get(style) ?? 0) >= perStyle * (seed === 1 ? 0.2 : 1))) break
      const shopIndex = (i * 7919) % world.shops
      const truth = Truth.productAt(world, shopIndex, Math.floor(i / world.shops) % world.products, at + i * 60_000)
      if ((count.get(truth.style) ?? 0) >= perStyle) continue
      const shop = Truth.shop(world, shopIndex)
      const origin = `http://${truth.host}:8080`
      const bytes = Render.productPage(world, truth, origin, shop.charset, { hugeJsonLd: false }, encode)
      pages.push({ style: truth.style, url: origin + truth.path, bytes, charset: shop.charset, price: truth.price })
      count.set(truth.style, (count.get(truth.style) ?? 0) + 1)
    }
  }
  return pages
}

describe("DOM-free microdata/RDFa pass", () => {
  const pages = simPages(30)

  it("covers every sim-web style", () => {
    for (const style of Truth.styles) expect(pages.filter((p) => p.style === style).length, style).toBeGreaterThanOrEqual(30)
  })

  for (const style of Truth.styles) {
    it(`sim-web ${style}: same items and same product as the DOM walk`, () => {
      for (const page of pages.filter((p) => p.style === style)) {
        const html = new TextDecoder(page.charset).decode(page.bytes)
        const scanned = scanItems(html, limits, true, true)
        // these pages are ordinary markup: the pass must not give up on them
        expect(scanned, page.url).toBeDefined()
        expect(scanned, page.url).toStrictEqual(domItems(html))
        const { dom, fast } = bothWays(page.bytes, { url: page.url, charset: page.charset })
        expect(fast, page.url).toBe(dom)
        expect(JSON.parse(fast).price?.amount, page.url).toBe(page.price)
      }
    })
  }

  it("every fixture page: same items and same product as the DOM walk", () => {
    const dir = Path.join(import.meta.dirname, "fixtures")
    const names = Fs.readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5))
    expect(names.length).toBeGreaterThanOrEqual(40)
    for (const name of names) {
      const fixture = JSON.parse(Fs.readFileSync(Path.join(dir, `${name}.json`), "utf8")) as {
        url: string
        options?: { rules?: Record<string, { selector?: string; attribute?: string; pattern?: string }>; currency?: string; locale?: string; charset?: string; bytes?: boolean }
      }
      const bytes = Fs.readFileSync(Path.join(dir, `${name}.html`))
      const html = bytes.toString("utf8")
      const scanned = scanItems(html, limits, true, true)
      if (scanned !== undefined) expect(scanned, name).toStrictEqual(domItems(html))
      const o = fixture.options ?? {}
      const rules = o.rules === undefined
        ? undefined
        : new Rules.Rules(Object.fromEntries(Object.entries(o.rules).map(([field, rule]) => [field, new Rules.Rule(rule)])))
      const input = o.bytes === true ? new Uint8Array(bytes) : html
      const { dom, fast } = bothWays(input, { url: fixture.url, rules, currency: o.currency, locale: o.locale, charset: o.charset })
      expect(fast, name).toBe(dom)
    }
  })

  // Pieces that exercise the tokenizer's corners: raw text, comments, quoting, case, implied end tags, foreign content.
  const pieces = [
    `<div itemscope itemtype="https://schema.org/Product">`, `<DIV ItemScope ItemType=https://schema.org/Offer>`,
    `<span itemprop="name">`, `<span itemprop=price content="12.50">`, `<span ITEMPROP="price">`, `<h1 itemprop="name" class="a>b">`,
    `<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">`, `<meta itemprop="priceCurrency" content="EUR">`,
    `<link itemprop="availability" href="https://schema.org/InStock">`, `<a href="/x?a=1&amp;b=2" itemprop="url">`,
    `<img src=/i.png itemprop=image>`, `<time itemprop="releaseDate" datetime="2024-01-02">`, `<span itemprop="a b">`,
    `<span itemprop="sku" content="a&amp;b&#x41;&notit;">`, `<br itemprop="name">`, `<meta itemprop="gtin">`, `<img itemprop="image">`,
    `<g itemprop="name"/>`, `<g itemscope itemprop="brand" itemtype="https://schema.org/Brand"/>`, `<circle property="name"/>`, `<span itemprop=brand content=&quot;x>`, `<span itemprop="x"/>`,
    `<div vocab="https://schema.org/" typeof="Product">`, `<div property="offers" typeof="Offer">`, `<span property="price">`,
    `<span property="schema:name og:title">`, `<meta property="priceCurrency" content="USD">`, `<a property="url" href="/p">`,
    `<span property="name" resource="#r">`, `<div typeof = "Product">`, `<div TYPEOF="Product">`, `<span property="price" content='9'>`,
    `<p>`, `</p>`, `<li>`, `</li>`, `<ul>`, `</ul>`, `<table>`, `<tr>`, `<td>`, `</table>`, `<select>`, `<option>`, `<dd>`, `<dt>`,
    `<div>`, `</div>`, `<span>`, `</span>`, `<h2>`, `</h1>`, `<a>`, `</a>`, `<br>`, `</br>`, `<br/>`, `<div/>`, `<input value="x">`,
    `<svg>`, `</svg>`, `<math>`, `</math>`, `<path d="M0"/>`, `<svg><title>t</title>`, `<title>`, `</title>`, `<title>a&amp;b`,
    `<script>`, `</script>`, `</SCRIPT >`, `<script>if (a < b) x = "</scr" + "ipt>"`, `<style>p>a{}</style>`, `<textarea>`,
    `</textarea>`, `<iframe>`, `</iframe>`, `<xmp>`, `</xmp>`, `<noscript>`, `</noscript>`, `<template>`, `</template>`,
    `<noembed>`, `</noembed>`, `<noframes>`, `</noframes>`, `<del>`, `</del>`, `<s>`, `</s>`, `<bdi>`,
    `<span class="screen-reader-text">x</span>`, `<!-- c -->`, `<!-->`, `<!--->`, `<!-- -- --!>`, `<!---->`, `<![CDATA[ x ]]>`,
    `<!doctype html>`, `<?xml x?>`, `<!x>`, `<!->`, `</ div>`, `</>`, `</3>`, `<3`, `a < b`, `<<`, `<a<b>`, `<a/b>`, `<a / >`,
    `<x-foo/>`, `<span title='<b>'>`, `<span a="1"b='2'c=3 d>`, `<span =x>`, `<span "a"=b>`, `hello`, ` 9,99 € `, `&amp;`,
    `&lt;b&gt;`, `&#x41;`, `&euro`, "\n", " ", "\t", `<plaintext>`, `<span itemprop="name" `, `<!--`, `<scr`, `</sp`, `<div a="`
  ]

  const soup = fc.oneof(
    { weight: 6, arbitrary: fc.array(fc.constantFrom(...pieces), { maxLength: 80 }).map((parts) => parts.join("")) },
    {
      weight: 1,
      arbitrary: fc.array(fc.constantFrom("<", ">", "/", "\"", "'", "=", "!", "-", " ", "a", "itemprop", "itemscope", "typeof", "property", "div", "p", "script", "&"), {
        maxLength: 120
      }).map((parts) => parts.join(""))
    }
  )

  it("random tag soup: same items as the DOM walk whenever the pass answers", () => {
    let answered = 0
    fc.assert(
      fc.property(soup, (html) => {
        const scanned = scanItems(html, limits, true, true)
        if (scanned === undefined) return
        answered++
        expect(scanned).toStrictEqual(domItems(html))
      }),
      { numRuns: 3000 }
    )
    // it gives up only on rare constructs (text values inside <svg>/<math>)
    expect(answered).toBeGreaterThan(2000)
  })

  it("random tag soup in a product page: same product either way", () => {
    fc.assert(
      fc.property(soup, soup, (a, b) => {
        const html = `<html><body>${a}<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Lamp${b}</h1>` +
          `<span itemprop="price" content="19.90">19,90 €</span><meta itemprop="priceCurrency" content="EUR"></div>${b}</body></html>`
        const { dom, fast } = bothWays(html, { url: "https://shop.example/p/1" })
        expect(fast).toBe(dom)
      }),
      { numRuns: 500 }
    )
  })

  it("gives up where the tokenizer would read the page differently on its own, and the DOM walk answers", () => {
    const product = (inner: string) =>
      `<div itemscope itemtype="https://schema.org/Product">${inner}<span itemprop="price" content="5.00"></span></div>`
    const cases = [
      // U+001C counts as `<` inside raw text for htmlparser2
      product(`<script>var a = "\x1c/script>";</script><span itemprop="name">A</span>`),
      // a text value inside <svg>: on its own the range would not be foreign content
      product(`<svg><text itemprop="name"><title>T</title>x</text></svg>`),
      // deeper than the DOM's depth cap
      product(`${"<div>".repeat(300)}<span itemprop="name">B</span>`)
    ]
    for (const html of cases) {
      expect(scanItems(html, limits, true, true)).toBeUndefined()
      const { dom, fast } = bothWays(html, { url: "https://shop.example/p/1" })
      expect(fast).toBe(dom)
    }
  })

  it("inside <svg>, a self-closing tag has no content; outside, it is an ordinary start tag", () => {
    const html = `<div itemscope itemtype="https://schema.org/Product"><svg><g itemscope itemtype="https://schema.org/Brand" itemprop="brand"/>` +
      `<meta itemprop="sku" content="S1"></svg><div itemscope itemtype="https://schema.org/Offer" itemprop="offers"/>` +
      `<meta itemprop="price" content="3.50"></div>`
    const scanned = scanItems(html, limits, true, false)
    expect(scanned?.microdata).toStrictEqual([{
      "@type": ["https://schema.org/Product"],
      brand: { "@type": ["https://schema.org/Brand"] },
      sku: "S1",
      offers: { "@type": ["https://schema.org/Offer"], price: "3.50" }
    }])
    expect(scanned).toStrictEqual({ ...domItems(html), rdfa: [] })
  })

  it("a text value is the element's text up to where the builder closes it", () => {
    const html = `<div itemscope itemtype="https://schema.org/Product"><p itemprop="name">Lamp <b>Aurora</b><div>after</div>` +
      `<span itemprop="description">A &amp; B<!-- c --><script>x<y</script><del>old</del></span></div>`
    const scanned = scanItems(html, limits, true, false)
    expect(scanned?.microdata).toStrictEqual([{ "@type": ["https://schema.org/Product"], name: "Lamp Aurora", description: "A & Bold" }])
    expect(scanned).toStrictEqual({ ...domItems(html), rdfa: [] })
  })
})
