import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "node:stream"
import * as Zlib from "node:zlib"
import { makeFetcher } from "./support/fetcher.ts"
import * as Blackhole from "./support/blackhole.ts"
import * as RawServer from "./support/raw.ts"
import * as TestServer from "./support/server.ts"

const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

/** Compresses `size` zero bytes without ever holding them in memory. */
const bomb = (size: number, compressor: () => Zlib.Gzip | Zlib.BrotliCompress | Zlib.ZstdCompress) =>
  Effect.promise(async () => {
    const zeros = Buffer.alloc(1 << 20)
    let left = size
    const source = new Stream.Readable({
      read() {
        if (left <= 0) return this.push(null)
        left -= zeros.length
        this.push(zeros)
      }
    })
    const chunks: Array<Buffer> = []
    await Stream.promises.pipeline(source, compressor(), async function*(input) {
      for await (const chunk of input) chunks.push(chunk as Buffer)
    })
    return Buffer.concat(chunks)
  })

const externalMemory = () => process.memoryUsage().arrayBuffers

describe("hostile servers", () => {
  it.live("slowloris headers hit the headers timeout", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.start((socket) => {
        socket.write("HTTP/1.1 200 OK\r\n")
        const timer = setInterval(() => socket.write("X-Slow: a\r\n"), 100)
        socket.on("close", () => clearInterval(timer))
      })
      const fetcher = yield* makeFetcher({ headersTimeoutMillis: 400, maxRetries: 0 })
      const started = Date.now()
      const error = yield* Effect.flip(fetcher.fetchPage(`http://slow.test:${server.port}/`))
      expect(error._tag).toBe("Timeout")
      expect(error._tag === "Timeout" && error.phase).toBe("headers")
      expect(Date.now() - started).toBeLessThan(3_000)
    }))

  it.live("a body that never ends is cut at maxBodyBytes and the connection aborted", () =>
    Effect.gen(function*() {
      let written = 0
      let closed = false
      const chunk = Buffer.alloc(64 * 1024, 97)
      const server = yield* TestServer.start((_req, res) => {
        res.setHeader("content-type", "text/html")
        const pump = () => {
          while (!closed && res.write(chunk)) written += chunk.length
          written += chunk.length
        }
        res.on("drain", pump)
        res.on("close", () => {
          closed = true
        })
        pump()
      })
      const fetcher = yield* makeFetcher({ maxBodyBytes: 2 * 1024 * 1024, maxRetries: 0 })
      const before = externalMemory()
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("endless.test", "/")))
      expect(error._tag).toBe("BodyTooLarge")
      expect(error._tag === "BodyTooLarge" && error.limit).toBe(2 * 1024 * 1024)
      yield* sleep(100)
      expect(closed).toBe(true)
      // The server could only push what fits in socket buffers past our limit.
      expect(written).toBeLessThan(32 * 1024 * 1024)
      expect(externalMemory() - before).toBeLessThan(64 * 1024 * 1024)
    }))

  it.live("a 10 GB Content-Length is refused before reading", () =>
    Effect.gen(function*() {
      let closed = false
      const server = yield* TestServer.start((_req, res) => {
        res.writeHead(200, { "content-length": String(10 * 1024 ** 3), "content-type": "text/html" })
        res.write("<html>")
        res.on("close", () => {
          closed = true
        })
      })
      const fetcher = yield* makeFetcher({ maxRetries: 0 })
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("huge.test", "/")))
      expect(error._tag).toBe("BodyTooLarge")
      expect(error._tag === "BodyTooLarge" && error.contentLength).toBe(10 * 1024 ** 3)
      yield* sleep(100)
      expect(closed).toBe(true)
    }))

  it.live("gzip, brotli and zstd bombs stop at maxDecompressedBytes with bounded memory", () =>
    Effect.gen(function*() {
      const size = 96 * 1024 * 1024
      const bombs: Record<string, Buffer> = {
        gzip: yield* bomb(size, () => Zlib.createGzip({ level: 9 })),
        br: yield* bomb(size, () => Zlib.createBrotliCompress()),
        zstd: yield* bomb(size, () => Zlib.createZstdCompress())
      }
      const server = yield* TestServer.start((req, res) => {
        const encoding = (req.url ?? "/").slice(1)
        res.writeHead(200, { "content-encoding": encoding, "content-type": "text/html" })
        res.end(bombs[encoding])
      })
      const limit = 4 * 1024 * 1024
      const fetcher = yield* makeFetcher({ maxDecompressedBytes: limit, maxRetries: 0 })
      for (const encoding of Object.keys(bombs)) {
        expect(bombs[encoding]!.length).toBeLessThan(2 * 1024 * 1024)
        const before = externalMemory()
        const error = yield* Effect.flip(fetcher.fetchPage(server.url("bomb.test", `/${encoding}`)))
        expect(error._tag).toBe("DecompressionBomb")
        expect(error._tag === "DecompressionBomb" && error.encoding).toBe(encoding)
        expect(externalMemory() - before).toBeLessThan(64 * 1024 * 1024)
      }
    }))

  it.live("429 with Retry-After in seconds is honoured, then retried", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const server = yield* TestServer.start((_req, res) => {
        times.push(Date.now())
        if (times.length === 1) {
          res.writeHead(429, { "retry-after": "1" }).end()
        } else {
          res.end("<html>ok</html>")
        }
      })
      const fetcher = yield* makeFetcher()
      const page = yield* fetcher.fetchPage(server.url("busy.test", "/"))
      expect(page.status).toBe(200)
      expect(page.timings.attempts).toBe(2)
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950)
    }))

  it.live("429 with Retry-After as an HTTP-date is honoured; one beyond maxRetryAfter fails at once", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const server = yield* TestServer.start((req, res) => {
        times.push(Date.now())
        if (req.url === "/far") {
          res.writeHead(429, { "retry-after": new Date(Date.now() + 3_600_000).toUTCString() }).end()
        } else if (times.length === 1) {
          // HTTP-dates have 1 s resolution: +2 s means at least 1 s from now.
          res.writeHead(429, { "retry-after": new Date(Date.now() + 2_000).toUTCString() }).end()
        } else {
          res.end("<html>ok</html>")
        }
      })
      const fetcher = yield* makeFetcher()
      const page = yield* fetcher.fetchPage(server.url("date.test", "/"))
      expect(page.timings.attempts).toBe(2)
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950)
      const started = Date.now()
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("far.test", "/far")))
      expect(error._tag === "HttpStatus" && error.status).toBe(429)
      expect(error._tag === "HttpStatus" && error.retryAfterMillis).toBeGreaterThan(3_000_000)
      expect(server.count("/far")).toBe(1)
      expect(Date.now() - started).toBeLessThan(1_000)
    }))

  it.live("a connection reset mid-body is ConnectionLost, retried within the budget", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        res.writeHead(200, { "content-length": "100000", "content-type": "text/html" })
        res.write(Buffer.alloc(1000, 97), () => req.socket.resetAndDestroy())
      })
      const fetcher = yield* makeFetcher({ maxRetries: 2 })
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("reset.test", "/")))
      expect(error._tag).toBe("ConnectionLost")
      expect(server.seen.length).toBe(3)
    }))

  it.live("5xx is retried with backoff and succeeds when the server recovers", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res, self) => {
        if (self.seen.length <= 2) res.writeHead(500).end("down")
        else res.end("<html>up</html>")
      })
      const fetcher = yield* makeFetcher({ maxRetries: 3 })
      const page = yield* fetcher.fetchPage(server.url("flaky.test", "/"))
      expect(page.text).toBe("<html>up</html>")
      expect(page.timings.attempts).toBe(3)
    }))

  it.live("the retry budget is per request, shared by its redirect hops", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res, self) => {
        if (req.url === "/a") {
          if (self.count("/a") === 1) res.writeHead(500).end()
          else res.writeHead(302, { location: "/b" }).end()
        } else res.writeHead(503).end()
      })
      const fetcher = yield* makeFetcher({ maxRetries: 2 })
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("budget.test", "/a")))
      expect(error._tag === "HttpStatus" && error.status).toBe(503)
      expect(server.count("/a")).toBe(2)
      expect(server.count("/b")).toBe(2)
    }))

  it.live("the circuit opens after consecutive failures, refuses without sending, then probes", () =>
    Effect.gen(function*() {
      let healthy = false
      const server = yield* TestServer.start((_req, res) => {
        if (healthy) res.end("<html>ok</html>")
        else res.writeHead(502).end()
      })
      const fetcher = yield* makeFetcher({ maxRetries: 0, circuitFailureThreshold: 3, circuitCooldownMillis: 300 })
      const url = server.url("sick.test", "/")
      for (let i = 0; i < 3; i++) {
        const error = yield* Effect.flip(fetcher.fetchPage(url))
        expect(error._tag).toBe("HttpStatus")
      }
      const refused = yield* Effect.flip(fetcher.fetchPage(url))
      expect(refused._tag).toBe("CircuitOpen")
      expect(server.seen.length).toBe(3)
      // Another host on the same server is unaffected.
      healthy = true
      yield* fetcher.fetchPage(server.url("well.test", "/"))
      yield* sleep(350)
      const page = yield* fetcher.fetchPage(url)
      expect(page.status).toBe(200)
      expect(server.seen.length).toBe(5)
    }))

  it.live("a host that never completes the TCP handshake hits the connect timeout", () =>
    Effect.gen(function*() {
      const port = yield* Blackhole.start
      const fetcher = yield* makeFetcher({ connectTimeoutMillis: 300, maxRetries: 0 })
      const started = Date.now()
      const error = yield* Effect.flip(fetcher.fetchPage(`http://hole.test:${port}/`))
      expect(error._tag === "Timeout" && error.phase).toBe("connect")
      expect(Date.now() - started).toBeLessThan(2_000)
    }))

  it.live("connection refused is ConnectFailed; a dripping body hits the total timeout once (not retried)", () =>
    Effect.gen(function*() {
      const closedPort = yield* Effect.scoped(RawServer.start(() => {}).pipe(Effect.map((server) => server.port)))
      const fetcher = yield* makeFetcher({ maxRetries: 1, totalTimeoutMillis: 500 })
      const refused = yield* Effect.flip(fetcher.fetchPage(`http://gone.test:${closedPort}/`))
      expect(refused._tag).toBe("ConnectFailed")
      expect(refused._tag === "ConnectFailed" && refused.code).toBe("ECONNREFUSED")
      const server = yield* TestServer.start((_req, res) => {
        res.writeHead(200, { "content-type": "text/html" })
        const timer = setInterval(() => res.write("a"), 50)
        res.on("close", () => clearInterval(timer))
      })
      const slow = yield* Effect.flip(fetcher.fetchPage(server.url("drip.test", "/")))
      expect(slow._tag === "Timeout" && slow.phase).toBe("total")
      expect(server.seen.length).toBe(1)
    }))

  it.live("a head in time outlives the headers deadline: the body may take until the total timeout", () =>
    Effect.gen(function*() {
      // Head at once, body after 400 ms (past the 150 ms headers deadline, within the 900 ms total);
      // /stall never ends its body: that one must end at the total timeout, not the headers one.
      const server = yield* TestServer.start((req, res) => {
        res.writeHead(200, { "content-type": "text/html" })
        res.write("<html>")
        if (req.url === "/late") setTimeout(() => res.end("late body</html>"), 400)
      })
      const fetcher = yield* makeFetcher({ headersTimeoutMillis: 150, totalTimeoutMillis: 900, maxRetries: 0 })
      const page = yield* fetcher.fetchPage(server.url("late.test", "/late"))
      expect(page.text).toBe("<html>late body</html>")
      const started = Date.now()
      const stalled = yield* Effect.flip(fetcher.fetchPage(server.url("late.test", "/stall")))
      const elapsed = Date.now() - started
      expect(stalled._tag === "Timeout" && stalled.phase).toBe("total")
      expect(elapsed).toBeGreaterThanOrEqual(850)
      expect(elapsed).toBeLessThan(2_000)
    }))

  it.live("a call's attempts share one deadline: slow 503s are retried only while it lasts", () =>
    Effect.gen(function*() {
      // Each answer takes 250 ms; five retries would take 1.5 s, the call has 600 ms.
      const server = yield* TestServer.start((_req, res) => {
        setTimeout(() => res.writeHead(503, { "content-type": "text/plain" }).end("busy"), 250)
      })
      const fetcher = yield* makeFetcher({ totalTimeoutMillis: 600, maxRetries: 5, retryBaseMillis: 10, circuitFailureThreshold: 100 })
      const started = Date.now()
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("busy.test", "/")))
      const elapsed = Date.now() - started
      expect(["HttpStatus", "Timeout"]).toContain(error._tag)
      expect(server.seen.length).toBeGreaterThanOrEqual(2)
      expect(server.seen.length).toBeLessThanOrEqual(3)
      expect(elapsed).toBeLessThan(900)
    }))

  it.live("a timeout is not retried and opens the host's circuit: its next request fails at once", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        // /stall sends its head and never its body
        res.writeHead(200, { "content-type": "text/html" })
        if (req.url === "/stall") res.write("<html>")
        else res.end("<html>ok</html>")
      })
      const fetcher = yield* makeFetcher({ totalTimeoutMillis: 300, maxRetries: 3, circuitCooldownMillis: 60_000 })
      const stalled = yield* Effect.flip(fetcher.fetchPage(server.url("stall.test", "/stall")))
      expect(stalled._tag === "Timeout" && stalled.phase).toBe("total")
      expect(server.seen.length).toBe(1)
      const started = Date.now()
      const refused = yield* Effect.flip(fetcher.fetchPage(server.url("stall.test", "/ok")))
      expect(refused._tag).toBe("CircuitOpen")
      expect(Date.now() - started).toBeLessThan(100)
      expect(server.seen.length).toBe(1)
    }))

  it.live("unknown charsets are a typed BadCharset; known ones decode", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/header") {
          res.writeHead(200, { "content-type": "text/html; charset=x-klingon" }).end("<html>qapla</html>")
        } else if (req.url === "/meta") {
          res.writeHead(200, { "content-type": "text/html" }).end("<html><meta charset=\"x-vulcan\"></html>")
        } else if (req.url === "/cp1251") {
          res.writeHead(200, { "content-type": "text/html" })
          res.end(Buffer.concat([
            Buffer.from("<html><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">"),
            Buffer.from([0xf6, 0xe5, 0xed, 0xe0]), // "цена"
            Buffer.from("</html>")
          ]))
        }
      })
      const fetcher = yield* makeFetcher()
      const header = yield* Effect.flip(fetcher.fetchPage(server.url("cs.test", "/header")))
      expect(header._tag === "BadCharset" && header.charset).toBe("x-klingon")
      const meta = yield* Effect.flip(fetcher.fetchPage(server.url("cs.test", "/meta")))
      expect(meta._tag === "BadCharset" && meta.charset).toBe("x-vulcan")
      const page = yield* fetcher.fetchPage(server.url("cs.test", "/cp1251"))
      expect(page.charset).toBe("windows-1251")
      expect(page.text).toContain("цена")
    }))
})

describe("SSRF guard", () => {
  it.live("refuses loopback, metadata and private targets by resolved address, sending nothing", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => res.end("secret"))
      const fetcher = yield* makeFetcher({
        allowRanges: [],
        resolve: { "*.evil.test": "127.0.0.1", "meta.test": "169.254.169.254", "lan.test": "10.1.2.3" }
      })
      const cases: Array<readonly [string, string]> = [
        [server.url("www.evil.test", "/"), "loopback"],
        [`http://127.0.0.1:${server.port}/`, "loopback"],
        [`http://[::1]:${server.port}/`, "loopback"],
        [`http://[::ffff:127.0.0.1]:${server.port}/`, "loopback"],
        [`http://localhost:${server.port}/`, "loopback"],
        ["http://meta.test/latest/meta-data/", "metadata"],
        ["http://169.254.169.254/latest/meta-data/", "metadata"],
        ["http://lan.test/", "private"]
      ]
      for (const [url, range] of cases) {
        const error = yield* Effect.flip(fetcher.fetchPage(url))
        expect(error._tag, url).toBe("ForbiddenAddress")
        expect(error._tag === "ForbiddenAddress" && error.range, url).toBe(range)
      }
      expect(server.seen.length).toBe(0)
      expect(server.connections()).toBe(0)
    }))

  it.live("with robots on, a forbidden host fails as ForbiddenAddress (not as a robots verdict)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => res.end("secret"))
      const fetcher = yield* makeFetcher({ allowRanges: [], robots: true })
      const error = yield* Effect.flip(fetcher.fetchPage(server.url("x.test", "/")))
      expect(error._tag).toBe("ForbiddenAddress")
      expect(server.connections()).toBe(0)
    }))
})
