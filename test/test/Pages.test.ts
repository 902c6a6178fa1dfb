/**
 * Product pages of a real sim-web process, read over real HTTP on 127.0.0.1:
 * every markup style carries the ground-truth price, charsets are declared
 * and honoured, prices move with the clock, conditional GET and compression.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Http from "node:http"
import * as Zlib from "node:zlib"
import { SimWeb, Truth } from "@trawl/harness"
import * as Client from "./support/http.ts"
import { findProduct, run, startShared } from "./support/sim.ts"

// 30 s past a step boundary, so a test run at speed 1 never straddles a price step.
const epochMillis = Date.UTC(2026, 0, 1, 0, 0, 30)
let shared: Awaited<ReturnType<typeof startShared>>
let web: SimWeb.SimWeb

beforeAll(async () => {
  shared = await startShared({ shops: 300, seed: 7, hostileFraction: 0, errorScale: 0, latencyScale: 0, epochMillis })
  web = shared.web
})
afterAll(() => shared?.close())

const now = async () => (await run(web.clock)).nowMillis

/** Fetch a product page and the truth at the same sim instant (retrying if a price step fell in between). */
const fetchWithTruth = async (truth: Truth.ProductTruth, headers: Record<string, string> = {}) => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = await now()
    const response = await Client.get(web.port, truth.host, truth.path, headers)
    const after = await now()
    const a = Truth.productAt(web.world, truth.shop, truth.index, before)
    const b = Truth.productAt(web.world, truth.shop, truth.index, after)
    if (a.version === b.version) return { response, truth: a }
  }
  throw new Error("the price kept moving during the fetch")
}

const jsonLd = (html: string): Array<unknown> =>
  [...html.matchAll(/<script type="application\/ld\+json">([\s\S]*?)<\/script>/g)].flatMap((match) => {
    try {
      return [JSON.parse(match[1]!)]
    } catch {
      return []
    }
  })

type Node = Record<string, unknown>
const productNode = (value: unknown): Node | undefined => {
  if (Array.isArray(value)) return value.map(productNode).find((node) => node !== undefined)
  if (value === null || typeof value !== "object") return undefined
  const node = value as Node
  if (node["@type"] === "Product") return node
  if (node["@type"] === "ProductGroup") return productNode(node.hasVariant)
  return productNode(node["@graph"])
}

const decimalOf = (price: unknown, currency: string) =>
  typeof price === "number" ? price.toFixed(Truth.currencyDecimals(currency)) : String(price)

/** What a simple extractor reads from each style: price, currency, availability, name. */
const read = (style: Truth.Style, html: string) => {
  const attr = (pattern: RegExp) => pattern.exec(html)?.[1]
  switch (style) {
    case "jsonld":
    case "jsonld-graph":
    case "jsonld-aggregate":
    case "jsonld-productgroup":
    case "shopify":
    case "woocommerce": {
      const product = productNode(jsonLd(html))!
      const offers = product.offers as Node | Array<Node>
      let offer = Array.isArray(offers) ? offers[0]! : offers
      if (offer["@type"] === "AggregateOffer") {
        expect(offer.lowPrice).toBe(offer.highPrice)
        offer = (offer.offers as Array<Node>)[0]!
      }
      const currency = String(offer.priceCurrency)
      return {
        price: decimalOf(offer.price, currency),
        currency,
        availability: String(offer.availability).replace(/^https?:\/\/schema\.org\//, ""),
        name: String(product.name)
      }
    }
    case "microdata":
    case "prestashop":
    case "magento":
      return {
        price: style === "magento"
          ? attr(/data-price-amount="([^"]+)" data-price-type="finalPrice"/)
          : attr(/itemprop="price" content="([^"]+)"/),
        currency: attr(/itemprop="priceCurrency" content="([^"]+)"/),
        availability: attr(/itemprop="availability" href="https?:\/\/schema\.org\/(\w+)"/),
        name: undefined
      }
    case "rdfa":
      return {
        price: attr(/property="price" content="([^"]+)"/),
        currency: attr(/property="priceCurrency" content="([^"]+)"/),
        availability: attr(/property="availability" href="https:\/\/schema\.org\/(\w+)"/),
        name: undefined
      }
    case "opengraph":
    case "broken-jsonld":
      return {
        price: attr(/property="product:price:amount" content="([^"]+)"/),
        currency: attr(/property="product:price:currency" content="([^"]+)"/),
        availability: attr(/property="product:availability" content="([^"]+)"/) === "in stock" ? "InStock" : "OutOfStock",
        name: undefined
      }
  }
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

describe("product pages", () => {
  it.each(Truth.styles.map((style) => [style]))("%s pages carry the ground-truth price", async (style) => {
    const at = await now()
    // Two products of each style: one on sale (two prices on the page) and one not.
    for (const onSale of [true, false]) {
      const found = findProduct(web, (truth) => truth.style === style && !truth.outlet && truth.onSale === onSale, at)
      expect(found, `a ${style} product with onSale=${onSale}`).toBeDefined()
      const { response, truth } = await fetchWithTruth(found!)
      expect(response.status).toBe(200)
      expect(truth.expected._tag).toBe("Price")
      const html = Client.text(response)
      const seen = read(style, html)
      expect(seen.price).toBe(truth.price)
      expect(seen.currency).toBe(truth.currency)
      expect(seen.availability).toBe(truth.availability)
      if (seen.name !== undefined) expect(seen.name).toBe(truth.name)
      expect(html).toContain(escapeHtml(truth.name))
      expect(html.includes('class="was-price"') || html.includes("regular-price") || html.includes("<del") || html.includes("price-item--regular") || html.includes("old-price")).toBe(onSale)
      if (style === "broken-jsonld") {
        const blocks = [...html.matchAll(/<script type="application\/ld\+json">([\s\S]*?)<\/script>/g)]
        expect(blocks.length).toBeGreaterThan(0)
        for (const block of blocks) expect(() => JSON.parse(block[1]!)).toThrow()
      }
      // Realistic sizes: 20–300 KB.
      expect(response.body.length).toBeGreaterThanOrEqual(20_000)
      expect(response.body.length).toBeLessThanOrEqual(320_000)
      expect(Number(response.headers["content-length"])).toBe(response.body.length)
    }
  })

  it.each([["windows-1252"], ["iso-8859-1"]])("%s shops declare and use their charset", async (charset) => {
    const at = await now()
    const found = findProduct(
      web,
      (truth, shop) => shop.charset === charset && !truth.outlet && /[^\u0000-\u007f]/.test(truth.name) && truth.style === "microdata",
      at
    ) ?? findProduct(web, (truth, shop) => shop.charset === charset && !truth.outlet && /[^\u0000-\u007f]/.test(truth.name), at)
    expect(found).toBeDefined()
    const { response, truth } = await fetchWithTruth(found!)
    expect(response.headers["content-type"]).toBe(`text/html; charset=${charset}`)
    expect(response.body.subarray(0, 200).toString("latin1")).toContain(`<meta charset="${charset}">`)
    // Not UTF-8: the name's non-ASCII letters are single bytes.
    expect(response.body.includes(Buffer.from(escapeHtml(truth.name), "latin1"))).toBe(true)
    expect(response.body.includes(Buffer.from(escapeHtml(truth.name), "utf8"))).toBe(false)
    const html = Client.text(response)
    expect(html).toContain(escapeHtml(truth.name))
    expect(read(truth.style, html).price).toBe(truth.price)
  })

  it("serves a home page and sitemaps listing every product URL, and robots.txt", async () => {
    const shop = Truth.shop(web.world, 5)
    const origin = web.origin(5)
    const sitemap = Client.text(await Client.get(web.port, shop.host, "/sitemap.txt"))
    const urls = sitemap.trim().split("\n")
    expect(urls).toEqual(Array.from({ length: web.world.products }, (_, p) => web.productUrl(5, p)))
    for (const url of urls) expect(url.startsWith(`${origin}/`)).toBe(true)
    const home = Client.text(await Client.get(web.port, shop.host, "/"))
    const links = [...home.matchAll(/class="product-link" href="([^"]+)"/g)].map((match) => match[1])
    expect(links).toEqual(urls.map((url) => new URL(url).pathname))
    const xml = Client.text(await Client.get(web.port, shop.host, "/sitemap.xml"))
    expect([...xml.matchAll(/<loc>([^<]+)<\/loc>/g)].map((match) => match[1])).toEqual(urls)
    const outletShop = findProduct(web, (truth) => truth.outlet, await now())!
    const robots = Client.text(await Client.get(web.port, outletShop.host, "/robots.txt"))
    expect(robots).toMatch(/User-agent: \*\n(Disallow: .*\n)*Disallow: \/outlet\//)
    expect(outletShop.path.startsWith("/outlet/")).toBe(true)
    expect(outletShop.expected).toMatchObject({ _tag: "Error", error: "RobotsDisallowed" })
    const delayed = Array.from({ length: web.world.shops }, (_, s) => Truth.shop(web.world, s)).find((s) => s.crawlDelaySeconds !== undefined)!
    expect(Client.text(await Client.get(web.port, delayed.host, "/robots.txt"))).toContain(`Crawl-delay: ${delayed.crawlDelaySeconds}`)
    expect((await Client.get(web.port, shop.host, "/nope")).status).toBe(404)
    expect((await Client.get(web.port, "shop-99999.sim.test", "/")).status).toBe(404)
  })

  it("works as a plain HTTP proxy for clients without a resolve map", async () => {
    const truth = Truth.productAt(web.world, 11, 2, await now())
    const viaProxy = (target: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        // Absolute-form request target, as a client configured with proxy http://127.0.0.1:<port> sends it.
        const req = Http.request({ host: "127.0.0.1", port: web.port, path: target, agent: false }, (res) => {
          let body = ""
          res.setEncoding("latin1")
          res.on("data", (chunk: string) => (body += chunk))
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on("error", reject)
        req.end()
      })
    const sitemap = await viaProxy(`http://${truth.host}/sitemap.txt`)
    expect(sitemap.status).toBe(200)
    expect(sitemap.body.split("\n")).toContain(truth.url)
    const page = await viaProxy(truth.url)
    expect(page.status).toBe(200)
    expect(page.body).toContain(`<link rel="canonical" href="${truth.url}">`)
  })

  it("answers /__truth like the pure function", async () => {
    const url = web.productUrl(9, 3)
    const at = Date.UTC(2026, 2, 3, 4, 5, 6)
    const response = await fetch(`${web.url}/__truth?url=${encodeURIComponent(url)}&at=${at}`)
    const body = await response.json() as { truth: Truth.ProductTruth; shop: Truth.Shop }
    expect(body.truth).toEqual(JSON.parse(JSON.stringify(web.truthAt(url, at))))
    expect(body.shop.index).toBe(9)
    expect((await fetch(`${web.url}/__truth?url=${encodeURIComponent("http://x.test/")}`)).status).toBe(404)
  })
})

describe("prices over time", () => {
  it("change after the clock moves, as the truth says", async () => {
    const at = await now()
    const found = findProduct(web, (truth) => truth.volatile && truth.periodSteps === 1 && truth.style === "opengraph", at)!
    const first = await fetchWithTruth(found)
    expect(read("opengraph", Client.text(first.response)).price).toBe(first.truth.price)
    const clock = await run(web.advanceClock(web.world.stepMillis))
    expect(clock.nowMillis).toBeGreaterThanOrEqual(at + web.world.stepMillis)
    const second = await fetchWithTruth(found)
    expect(second.truth.version).toBe(first.truth.version + 1)
    expect(second.truth.price).not.toBe(first.truth.price)
    expect(read("opengraph", Client.text(second.response)).price).toBe(second.truth.price)
    // The admin clock agrees with wall time × speed from the epoch, plus the advance.
    expect(clock.clockSpeed).toBe(1)
    expect(clock.offsetMillis).toBeGreaterThanOrEqual(web.world.stepMillis)
    expect(Math.abs(clock.nowMillis - (clock.epochMillis + (clock.wallMillis - clock.startWallMillis) + clock.offsetMillis))).toBeLessThan(50)
  })
})

describe("conditional GET and compression", () => {
  it("answers 304 to a matching If-None-Match or If-Modified-Since, 200 after a change", async () => {
    const at = await now()
    const found = findProduct(web, (truth) => truth.volatile && truth.periodSteps === 1 && !truth.outlet, at)!
    const { response } = await fetchWithTruth(found)
    const etag = response.headers.etag!
    const lastModified = response.headers["last-modified"]!
    expect(etag).toMatch(/^W\/".+"$/)
    const byTag = await Client.get(web.port, found.host, found.path, { "if-none-match": etag })
    expect(byTag.status).toBe(304)
    expect(byTag.body.length).toBe(0)
    expect(byTag.headers.etag).toBe(etag)
    const byDate = await Client.get(web.port, found.host, found.path, { "if-modified-since": lastModified })
    expect(byDate.status).toBe(304)
    const older = new Date(Date.parse(lastModified) - 1000).toUTCString()
    expect((await Client.get(web.port, found.host, found.path, { "if-modified-since": older })).status).toBe(200)
    expect((await Client.get(web.port, found.host, found.path, { "if-none-match": 'W/"other"' })).status).toBe(200)
    await run(web.advanceClock(web.world.stepMillis))
    const changed = await Client.get(web.port, found.host, found.path, { "if-none-match": etag })
    expect(changed.status).toBe(200)
    expect(changed.headers.etag).not.toBe(etag)
    const stats = await run(web.stats({ host: found.host }))
    expect(stats.hosts[found.host]!.notModified).toBe(2)
  })

  it("compresses with gzip or br when accepted, identical after decoding", async () => {
    const at = await now()
    const found = findProduct(web, (truth) => !truth.outlet && !truth.volatile && truth.sizeBytes > 100_000, at)!
    const plain = await Client.get(web.port, found.host, found.path)
    expect(plain.headers["content-encoding"]).toBeUndefined()
    const gzip = await Client.get(web.port, found.host, found.path, { "accept-encoding": "gzip" })
    expect(gzip.headers["content-encoding"]).toBe("gzip")
    expect(gzip.headers.vary).toBe("Accept-Encoding")
    expect(Zlib.gunzipSync(gzip.body).equals(plain.body)).toBe(true)
    expect(gzip.body.length).toBeLessThan(plain.body.length / 2)
    const br = await Client.get(web.port, found.host, found.path, { "accept-encoding": "gzip, deflate, br" })
    expect(br.headers["content-encoding"]).toBe("br")
    expect(Zlib.brotliDecompressSync(br.body).equals(plain.body)).toBe(true)
    const refused = await Client.get(web.port, found.host, found.path, { "accept-encoding": "br;q=0, gzip" })
    expect(refused.headers["content-encoding"]).toBe("gzip")
    const head = await Client.get(web.port, found.host, found.path, {}, { method: "HEAD" })
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
    expect(Number(head.headers["content-length"])).toBe(plain.body.length)
  })
})
