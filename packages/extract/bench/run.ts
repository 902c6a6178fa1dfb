/**
 * Extraction benchmarks: one thread (one core), JSON lines on stdout.
 *
 * Cases, on 60 KB and 300 KB pages:
 * - `json-ld-fast-path`: a page with JSON-LD; no DOM is built.
 * - `meta-path`: a page with product meta tags only; no DOM is built.
 * - `dom-rule-path`: a selector rule (builds the DOM), against
 *   `cheerio.load(html)` + the same selector, measured in the same run.
 * - `parse-only`: the DOM builders alone (ours, htmlparser2's parseDocument,
 *   cheerio/parse5), which is how the parser was chosen.
 *
 * Run: `npm run bench` in packages/extract (under `flock /tmp/trawl-bench.lock`).
 */
import * as cheerio from "cheerio"
import { Result } from "effect"
import { parseDocument } from "htmlparser2"
import { Extract, Rules } from "../src/index.ts"
import * as Dom from "../src/internal/dom.ts"
import { makePage } from "./pages.ts"

const DURATION_MS = Number(process.env["BENCH_MS"] ?? 1500)
const SELECTOR = ".product .pdp-price .pdp-price__now"

interface Measured {
  readonly pagesPerSecond: number
  readonly mbPerSecond: number
}

/** Runs `f` for about DURATION_MS after a warm-up; returns throughput. */
const measure = (bytes: number, f: () => unknown): Measured => {
  const warmupEnd = performance.now() + Math.min(300, DURATION_MS / 3)
  while (performance.now() < warmupEnd) f()
  let iterations = 0
  const start = performance.now()
  let now = start
  while (now - start < DURATION_MS) {
    for (let k = 0; k < 5; k++) f()
    iterations += 5
    now = performance.now()
  }
  const seconds = (now - start) / 1000
  return { pagesPerSecond: iterations / seconds, mbPerSecond: (iterations * bytes) / 1e6 / seconds }
}

const round = (n: number) => Math.round(n * 10) / 10

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify({ bench: "extract", ...line }))

const report = (name: string, size: string, ours: Measured, baseline?: { name: string; measured: Measured }) => {
  const extra = (value: number, base: number | undefined) =>
    base === undefined ? {} : { baseline: round(base), ratio: Math.round((value / base) * 100) / 100 }
  emit({
    case: `${name}/${size}`,
    value: round(ours.mbPerSecond),
    unit: "MB/s",
    ...(baseline ? { baselineName: baseline.name } : {}),
    ...extra(ours.mbPerSecond, baseline?.measured.mbPerSecond)
  })
  emit({
    case: `${name}/${size}/pages`,
    value: round(ours.pagesPerSecond),
    unit: "pages/s",
    ...(baseline ? { baselineName: baseline.name } : {}),
    ...extra(ours.pagesPerSecond, baseline?.measured.pagesPerSecond)
  })
}

const url = "https://shop.example/p/lamp"

for (const [size, bytes] of [["60KB", 60_000], ["300KB", 300_000]] as const) {
  const jsonLdPage = makePage(bytes, "json-ld")
  const metaPage = makePage(bytes, "meta")
  const plainPage = makePage(bytes, "plain")
  const realBytes = (page: string) => Buffer.byteLength(page)

  const check = (page: string, options: Extract.ExtractOptions, source: string) => {
    const result = Extract.extractProductResult(page, options)
    if (Result.isFailure(result) || result.success.price?.amount !== "89.90" || result.success.source !== source) {
      throw new Error(`benchmark page not extracted as expected (${source})`)
    }
  }

  check(jsonLdPage, { url }, "json-ld")
  report("json-ld-fast-path", size, measure(realBytes(jsonLdPage), () => Extract.extractProductResult(jsonLdPage, { url })))

  check(metaPage, { url }, "meta")
  report("meta-path", size, measure(realBytes(metaPage), () => Extract.extractProductResult(metaPage, { url })))

  const rules = new Rules.Rules({ price: new Rules.Rule({ selector: SELECTOR }) })
  check(plainPage, { url, rules }, "rules")
  if (cheerio.load(plainPage)(SELECTOR).first().text() !== "89,90 €") throw new Error("cheerio baseline did not match")
  const ours = measure(realBytes(plainPage), () => Extract.extractProductResult(plainPage, { url, rules }))
  const theirs = measure(realBytes(plainPage), () => cheerio.load(plainPage)(SELECTOR).first().text())
  report("dom-rule-path", size, ours, { name: "cheerio.load + same selector", measured: theirs })

  const limits = { maxDepth: 256, maxElements: 250_000 }
  const parseOurs = measure(realBytes(plainPage), () => Dom.parse(plainPage, limits))
  report("parse-only-ours", size, parseOurs, { name: "cheerio.load (parse5)", measured: measure(realBytes(plainPage), () => cheerio.load(plainPage)) })
  report("parse-only-htmlparser2-parseDocument", size, measure(realBytes(plainPage), () => parseDocument(plainPage)))
}

// Hostile pages: each must finish in time linear in its size (one run each, ms per page).
const hostile: ReadonlyArray<readonly [name: string, page: () => string, options: Partial<Extract.ExtractOptions>]> = [
  ["deep-nesting-8MB", () => `${"<div>".repeat(1_600_000)}<span class="p">9,99 €</span>`, { exhaustive: true }],
  ["deep-nesting-rule-8MB", () => `${"<div class=a>".repeat(600_000)}<span class="p">9,99 €</span>`, {
    rules: new Rules.Rules({ price: new Rules.Rule({ selector: "div.a > div.a span.p:nth-child(1)" }) })
  }],
  ["lt-soup-8MB", () => "x" + "<".repeat(8_000_000), { exhaustive: true }],
  ["deep-json-ld-8MB", () => `<script type="application/ld+json">${"[".repeat(4_000_000)}${"]".repeat(4_000_000)}</script>`, {}],
  ["unclosed-script-8MB", () => `<script type="application/ld+json">{"a":"${"x".repeat(8_000_000)}`, { exhaustive: true }],
  ["one-tag-500k-attributes", () => `<div ${Array.from({ length: 500_000 }, (_, i) => `a${i}=1`).join(" ")}>`, { exhaustive: true }],
  ["flat-250k-siblings-nth-child", () => `<ul>${"<li>x</li>".repeat(250_000)}</ul>`, {
    rules: new Rules.Rules({ price: new Rules.Rule({ selector: "li:nth-last-child(1) + li, li ~ li.none" }) })
  }],
  ["20MB-rejected", () => "<p>".repeat(7_000_000), {}]
]
for (const [name, make, options] of hostile) {
  const page = make()
  const start = performance.now()
  const result = Extract.extractProductResult(page, { url, limits: { maxBytes: 16 * 1024 * 1024 }, ...options })
  const ms = performance.now() - start
  const outcome = Result.isFailure(result) ? result.failure.reason : (result.success.price?.amount ?? "no-price")
  emit({ case: `hostile/${name}`, value: Math.round(ms), unit: "ms", bytes: Buffer.byteLength(page), outcome })
}
