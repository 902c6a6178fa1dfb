import { describe, expect, it } from "@effect/vitest"
import * as cheerio from "cheerio"
import { Result } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Selector } from "../src/index.ts"
import * as Dom from "../src/internal/dom.ts"
import * as Engine from "../src/internal/selector.ts"

const SELECTORS = [
  "h1", "*", "div", ".price", "#price", "span.price", "div > span", "div span", "li + li", "li ~ li", "p, h1",
  "[itemprop]", "[itemprop=price]", "[itemprop='price'][content]", "[class~=price]", "[lang|=en]", "[href^='/p']",
  "[src$='.jpg']", "[class*=price]", "[CLASS*=PRICE i]", "meta[property^='og:']", ":not(div)", "span:not(.price)",
  "li:first-child", "li:last-child", "li:nth-child(2)", "li:nth-child(odd)", "li:nth-child(2n+1)", "td:only-child",
  "span:first-of-type", "span:last-of-type", "p:nth-of-type(2)", ".summary .price", ".product .price--on-sale .price-item--sale",
  "[data-price-type=finalPrice]", "#product > .price-box", "div.product-info-main [data-price-type=finalPrice]",
  "body > div", "html > body", "h1 ~ p", "h1 + div", "ul li a", ".card > .price", "script[type='application/ld+json']",
  "span:contains('€')"
]

const fixtures = Path.join(import.meta.dirname, "fixtures")
const pages = Fs.readdirSync(fixtures).filter((f) => f.endsWith(".html")).sort()

const signature = (name: string, attrs: Record<string, string | undefined>) =>
  `${name}#${attrs["id"] ?? ""}.${attrs["class"] ?? ""}[${attrs["itemprop"] ?? attrs["property"] ?? ""}]`

describe("selector engine", () => {
  it("matches the same elements as cheerio (css-select) on every fixture page", () => {
    let compared = 0
    for (const page of pages) {
      const html = Fs.readFileSync(Path.join(fixtures, page), "latin1")
      const document = Dom.parse(html, { maxDepth: 256, maxElements: 250_000 })
      const $ = cheerio.load(html, { xml: { xmlMode: false, decodeEntities: true } })
      for (const selector of SELECTORS) {
        const ours = Engine.selectAll(document.elements, Engine.compile(selector)).map((e) => signature(e.name, e.attrs))
        const theirs = $(selector).toArray().map((e) => {
          if (e.type !== "tag" && e.type !== "script" && e.type !== "style") throw new Error("not an element")
          return signature(e.name, e.attribs)
        })
        expect(ours, `${page}: ${selector}`).toEqual(theirs)
        compared += theirs.length
      }
    }
    // the comparison must actually have exercised matches
    expect(compared).toBeGreaterThan(2000)
  })

  it("rejects unsupported or malformed selectors with a position", () => {
    const error = (s: string) => {
      const result = Selector.validate(s)
      if (Result.isSuccess(result)) throw new Error(`accepted ${s}`)
      return result.failure
    }
    expect(error("a::before")).toContain("pseudo-elements")
    expect(error(":hover")).toContain(":hover")
    expect(error("div >")).toContain("expected a selector at position 5")
    expect(error("[a=")).toContain("position")
    expect(error("")).toContain("expected")
    expect(Result.isSuccess(Selector.validate("div.a > span[data-x='1'] ~ em:nth-child(2n+1)"))).toBe(true)
  })
})
