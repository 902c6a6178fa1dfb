/**
 * Hostile shops of a real sim-web process misbehave as the truth declares:
 * slowloris heads, endless bodies, gzip bombs, redirect loops, huge JSON-LD
 * and unknown charsets.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Http from "node:http"
import { TextDecoder } from "node:util"
import * as Zlib from "node:zlib"
import { SimWeb, Truth } from "@trawl/harness"
import * as Client from "./support/http.ts"
import { run, startShared } from "./support/sim.ts"

const epochMillis = Date.UTC(2026, 0, 1, 0, 0, 30)
let shared: Awaited<ReturnType<typeof startShared>>
let web: SimWeb.SimWeb

beforeAll(async () => {
  shared = await startShared({
    shops: 24,
    seed: 3,
    hostileFraction: 1,
    errorScale: 0,
    latencyScale: 0,
    epochMillis,
    slowlorisIntervalMillis: 100,
    endlessMaxBytes: 64 * 1024 * 1024
  })
  web = shared.web
})
afterAll(() => shared?.close())

/** A fetchable (not robots-disallowed) product of a shop of the given hostile kind. */
const productOf = async (kind: Truth.HostileKind) => {
  const at = (await run(web.clock)).nowMillis
  for (let s = 0; s < web.world.shops; s++) {
    if (Truth.shop(web.world, s).hostile !== kind) continue
    for (let p = 0; p < web.world.products; p++) {
      const truth = Truth.productAt(web.world, s, p, at)
      if (!truth.outlet) return truth
    }
  }
  throw new Error(`no ${kind} shop in this world`)
}

describe("hostile shops", () => {
  it("slowloris: the response head trickles and never ends (expected: Timeout)", async () => {
    const truth = await productOf("slowloris")
    expect(truth.expected).toMatchObject({ _tag: "Error", error: "Timeout" })
    const { data, samples } = await Client.rawFor(web.port, truth.host, truth.path, 1_200)
    expect(data.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true)
    expect(data).not.toContain("\r\n\r\n")
    // Still arriving, a byte at a time.
    expect(samples.at(-1)!).toBeGreaterThan(samples[0]!)
    expect(data.length).toBeLessThan(200)
    // The server counted it as one request in flight, and let it go when the client did.
    const deadline = Date.now() + 2_000
    let host = (await run(web.stats({ host: truth.host }))).hosts[truth.host]!
    while (host.inFlight !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      host = (await run(web.stats({ host: truth.host }))).hosts[truth.host]!
    }
    expect(host).toMatchObject({ requests: 1, maxInFlight: 1, inFlight: 0, connections: 0, maxConnections: 1 })
  })

  it("endless-body: a 200 whose body never ends (expected: BodyTooLarge)", async () => {
    const truth = await productOf("endless-body")
    expect(truth.expected).toMatchObject({ _tag: "Error", error: "BodyTooLarge" })
    const limit = 12 * 1024 * 1024
    const result = await new Promise<{ headers: Http.IncomingHttpHeaders; received: number }>((resolve, reject) => {
      const req = Http.get({ host: "127.0.0.1", port: web.port, path: truth.path, headers: { host: `${truth.host}:${web.port}` }, agent: false }, (res) => {
        let received = 0
        res.on("data", (chunk: Buffer) => {
          received += chunk.length
          if (received > limit) {
            req.destroy()
            resolve({ headers: res.headers, received })
          }
        })
        res.on("end", () => reject(new Error(`the body ended after ${received} bytes`)))
      })
      req.on("error", (error) => (error.message.includes("aborted") ? undefined : reject(error)))
    })
    expect(result.received).toBeGreaterThan(limit)
    expect(result.headers["content-length"]).toBeUndefined()
    expect(result.headers["transfer-encoding"]).toBe("chunked")
  })

  it("gzip-bomb: a small gzip body that inflates far beyond 32 MiB (expected: DecompressionBomb)", async () => {
    const truth = await productOf("gzip-bomb")
    expect(truth.expected).toMatchObject({ _tag: "Error", error: "DecompressionBomb" })
    const response = await Client.get(web.port, truth.host, truth.path, { "accept-encoding": "identity" })
    expect(response.status).toBe(200)
    expect(response.headers["content-encoding"]).toBe("gzip")
    expect(response.body.length).toBeLessThan(1024 * 1024)
    expect(() => Zlib.gunzipSync(response.body, { maxOutputLength: 32 * 1024 * 1024 })).toThrow(RangeError)
    let inflated = 0
    await new Promise<void>((resolve, reject) => {
      const gunzip = Zlib.createGunzip()
      gunzip.on("data", (chunk: Buffer) => (inflated += chunk.length))
      gunzip.on("end", resolve)
      gunzip.on("error", reject)
      gunzip.end(response.body)
    })
    expect(inflated).toBe(128 * 1024 * 1024)
  })

  it("redirect-loop: two URLs redirect to each other (expected: TooManyRedirects)", async () => {
    const truth = await productOf("redirect-loop")
    expect(truth.expected).toMatchObject({ _tag: "Error", error: "TooManyRedirects" })
    const seen: Array<string> = []
    let path = truth.path
    for (let hop = 0; hop < 8; hop++) {
      const response = await Client.get(web.port, truth.host, path)
      expect(response.status).toBe(302)
      const location = new URL(response.headers.location!)
      expect(location.host).toBe(`${truth.host}:${web.port}`)
      path = location.pathname + location.search
      seen.push(path)
    }
    expect(new Set(seen)).toEqual(new Set([truth.path, `${truth.path}?loop=1`]))
  })

  it("huge-jsonld: a valid page of several MiB of JSON-LD whose price is still right (expected: Price)", async () => {
    const truth = await productOf("huge-jsonld")
    expect(truth.expected).toMatchObject({ _tag: "Price", price: truth.price })
    const response = await Client.get(web.port, truth.host, truth.path, { "accept-encoding": "gzip" })
    const html = Client.text(response)
    expect(html.length).toBeGreaterThan(2.5 * 1024 * 1024)
    const block = /<script type="application\/ld\+json">([\s\S]*?)<\/script>/.exec(html)![1]!
    expect(block.length).toBeGreaterThan(2.5 * 1024 * 1024)
    const data = JSON.parse(block) as { offers: { price: string; priceCurrency: string }; review: Array<unknown> }
    expect(data.offers.price).toBe(truth.price)
    expect(data.offers.priceCurrency).toBe(truth.currency)
    expect(data.review.length).toBeGreaterThan(10_000)
  })

  it("wrong-charset: a charset no decoder knows (expected: BadCharset)", async () => {
    const truth = await productOf("wrong-charset")
    expect(truth.expected).toMatchObject({ _tag: "Error", error: "BadCharset" })
    const response = await Client.get(web.port, truth.host, truth.path)
    expect(response.status).toBe(200)
    const label = Client.charsetOf(response.headers["content-type"])
    expect(label).toBe("x-sim-klingon")
    expect(() => new TextDecoder(label)).toThrow(RangeError)
    expect(response.body.subarray(0, 200).toString("latin1")).toContain(`<meta charset="${label}">`)
  })

  it("keep home pages, sitemaps and robots.txt sane so importers can discover URLs", async () => {
    for (let s = 0; s < web.world.shops; s++) {
      const shop = Truth.shop(web.world, s)
      const sitemap = await Client.get(web.port, shop.host, "/sitemap.txt")
      expect(sitemap.status).toBe(200)
      expect(Client.text(sitemap).trim().split("\n")).toHaveLength(web.world.products)
    }
  })
})
