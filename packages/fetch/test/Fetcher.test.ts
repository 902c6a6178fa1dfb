import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Zlib from "node:zlib"
import { FetchError, Page } from "@trawl/fetch"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

const html = (body: string) => `<!doctype html><html><head><title>t</title></head><body>${body}</body></html>`

describe("Fetcher basics", () => {
  it.live("fetches a page through the resolve map and reports status, headers, text, timings", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        res.setHeader("content-type", "text/html; charset=utf-8")
        res.setHeader("etag", "\"v1\"")
        res.end(html(`hello ${req.headers.host} ü`))
      })
      const fetcher = yield* makeFetcher()
      const page = yield* fetcher.fetchPage(server.url("a.shop.test", "/p/1"))
      expect(page.status).toBe(200)
      expect(page.url).toBe(server.url("a.shop.test", "/p/1"))
      expect(page.text).toContain(`hello a.shop.test:${server.port} ü`)
      expect(page.charset).toBe("utf-8")
      expect(page.headers["etag"]).toBe("\"v1\"")
      expect(page.validators.etag).toBe("\"v1\"")
      expect(page.notModified).toBe(false)
      expect(page.timings.attempts).toBe(1)
      expect(page.timings.totalMillis).toBeGreaterThan(0)
      expect(server.seen[0]!.headers["user-agent"]).toMatch(/^trawl\/.*https?:\/\//)
      expect(server.seen[0]!.headers["accept-encoding"]).toContain("zstd")
    }))

  it.live("sends validators and turns a 304 into notModified", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.headers["if-none-match"] === "\"v7\"" && req.headers["if-modified-since"] !== undefined) {
          res.statusCode = 304
          res.end()
          return
        }
        res.setHeader("etag", "\"v7\"")
        res.setHeader("last-modified", "Tue, 24 Nov 2026 08:00:00 GMT")
        res.end(html("fresh"))
      })
      const fetcher = yield* makeFetcher()
      const url = server.url("b.shop.test", "/item")
      const first = yield* fetcher.fetchPage(url)
      expect(first.notModified).toBe(false)
      const second = yield* fetcher.fetchPage(new Page.FetchRequest({ url, validators: first.validators }))
      expect(second.notModified).toBe(true)
      expect(second.status).toBe(304)
      expect(second.body.byteLength).toBe(0)
      expect(second.validators.etag).toBe("\"v7\"")
      expect(server.seen[1]!.headers["if-none-match"]).toBe("\"v7\"")
      expect(server.seen[1]!.headers["if-modified-since"]).toBe("Tue, 24 Nov 2026 08:00:00 GMT")
    }))

  it.live("follows redirects and records the chain; detects loops and too many hops", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res, self) => {
        const path = req.url ?? "/"
        if (path === "/old") {
          res.writeHead(301, { location: "/newer" }).end()
        } else if (path === "/newer") {
          res.writeHead(302, { location: self.url("other.shop.test", "/final") }).end("moved")
        } else if (path === "/final") {
          res.end(html("final"))
        } else if (path.startsWith("/loop-a")) {
          res.writeHead(302, { location: "/loop-b" }).end()
        } else if (path.startsWith("/loop-b")) {
          res.writeHead(302, { location: "/loop-a" }).end()
        } else if (path.startsWith("/chain/")) {
          const n = Number(path.slice(7))
          res.writeHead(302, { location: `/chain/${n + 1}` }).end()
        } else if (path === "/bad-location") {
          res.writeHead(302, { location: "ftp://nope.test/file" }).end()
        }
      })
      const fetcher = yield* makeFetcher({ maxRedirects: 3 })
      const page = yield* fetcher.fetchPage(server.url("r.shop.test", "/old"))
      expect(page.url).toBe(server.url("other.shop.test", "/final"))
      expect(page.requestedUrl).toBe(server.url("r.shop.test", "/old"))
      expect(page.redirects.map((hop) => [hop.url, hop.status])).toEqual([
        [server.url("r.shop.test", "/old"), 301],
        [server.url("r.shop.test", "/newer"), 302]
      ])
      const loop = yield* Effect.flip(fetcher.fetchPage(server.url("r.shop.test", "/loop-a")))
      expect(loop._tag).toBe("TooManyRedirects")
      expect(loop._tag === "TooManyRedirects" && loop.loop).toBe(true)
      const long = yield* Effect.flip(fetcher.fetchPage(server.url("r.shop.test", "/chain/0")))
      expect(long._tag === "TooManyRedirects" && !long.loop && long.chain.length).toBe(5)
      expect(server.count("/chain/4")).toBe(0)
      const bad = yield* Effect.flip(fetcher.fetchPage(server.url("r.shop.test", "/bad-location")))
      expect(bad._tag).toBe("InvalidUrl")
    }))

  it.live("decompresses gzip, deflate (wrapped and raw), br and zstd", () =>
    Effect.gen(function*() {
      const text = html("x".repeat(10_000) + " compressed ok")
      const encoders: Record<string, (input: Buffer) => Buffer> = {
        gzip: Zlib.gzipSync,
        deflate: Zlib.deflateSync,
        "deflate-raw": Zlib.deflateRawSync,
        br: Zlib.brotliCompressSync,
        zstd: Zlib.zstdCompressSync
      }
      const server = yield* TestServer.start((req, res) => {
        const name = (req.url ?? "/").slice(1)
        const encode = encoders[name]!
        res.setHeader("content-encoding", name === "deflate-raw" ? "deflate" : name)
        res.setHeader("content-type", "text/html")
        res.end(encode(Buffer.from(text)))
      })
      const fetcher = yield* makeFetcher()
      for (const name of Object.keys(encoders)) {
        const page = yield* fetcher.fetchPage(server.url("z.shop.test", `/${name}`))
        expect(page.text).toBe(text)
      }
    }))

  it.live("corrupt or unsupported Content-Encoding is a typed BadContentEncoding", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/corrupt") res.writeHead(200, { "content-encoding": "gzip" }).end("this is not gzip")
        else res.writeHead(200, { "content-encoding": "compress" }).end("LZW?")
      })
      const fetcher = yield* makeFetcher()
      const corrupt = yield* Effect.flip(fetcher.fetchPage(server.url("enc.test", "/corrupt")))
      expect(corrupt._tag === "BadContentEncoding" && corrupt.encoding).toBe("gzip")
      const unsupported = yield* Effect.flip(fetcher.fetchPage(server.url("enc.test", "/lzw")))
      expect(unsupported._tag === "BadContentEncoding" && unsupported.reason).toBe("unsupported encoding")
    }))

  it.live("rejects invalid URLs with a typed InvalidUrl, sending nothing", () =>
    Effect.gen(function*() {
      const fetcher = yield* makeFetcher()
      for (const url of ["not a url", "ftp://a.test/", "javascript:alert(1)", "http://", "/relative", `http://a.test/${"x".repeat(9000)}`]) {
        const error = yield* Effect.flip(fetcher.fetchPage(url))
        expect(error._tag).toBe("InvalidUrl")
        expect(error.url.length).toBeGreaterThan(0)
      }
    }))

  it.live("a request header with a line break is refused before anything is sent", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => res.end("<html>ok</html>"))
      const fetcher = yield* makeFetcher()
      const error = yield* Effect.flip(
        fetcher.fetchPage(
          new Page.FetchRequest({ url: server.url("h.test", "/"), headers: { "x-evil": "a\r\nInjected: 1" } })
        )
      )
      expect(error._tag).toBe("InvalidUrl")
      expect(server.seen.length).toBe(0)
    }))

  it.live("maps 4xx to HttpStatus without retrying", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => {
        res.statusCode = 404
        res.end("nope")
      })
      const fetcher = yield* makeFetcher()
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("n.shop.test", "/missing")))
      expect(error).toBeInstanceOf(FetchError.HttpStatus)
      expect(error._tag === "HttpStatus" && error.status).toBe(404)
      expect(server.seen.length).toBe(1)
    }))
})
