import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Page } from "@trawl/fetch"
import { maxAdoptSlack } from "../src/internal/dispatch.ts"
import { makeFetcher } from "./support/fetcher.ts"
import * as Raw from "./support/raw.ts"
import * as TestServer from "./support/server.ts"

// Distinct bytes per page number, so a body mixed up with another page's (or a head) is caught.
const pageBytes = (n: number, size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  let seed = Math.imul(n, 2654435761) >>> 0
  for (let i = 0; i < size; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    out[i] = 97 + (seed >>> 24) % 26
  }
  return out
}

const pageNumber = (url: string | undefined) => Number((url ?? "").split("/").at(-1))

// The whole response in one write: on loopback it normally reaches the client in one socket read.
const oneWrite = (size: number) =>
  Raw.start((socket) => {
    socket.on("data", (data) => {
      const n = pageNumber(data.toString("latin1").split(" ")[1])
      const body = pageBytes(n, size)
      socket.write(Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: ${body.length}\r\n\r\n`),
        body
      ]))
    })
  })

const ownsWholeBuffer = (body: Uint8Array) => body.byteOffset === 0 && body.byteLength === body.buffer.byteLength

describe("page bodies own their buffers", () => {
  it.live("a body that came in one socket read is that read (no copy): its head in front, nothing else", () =>
    Effect.gen(function*() {
      const size = 60 * 1024
      const server = yield* oneWrite(size)
      const fetcher = yield* makeFetcher()
      let adopted = 0
      for (let n = 1; n <= 20; n++) {
        const page = yield* fetcher.fetchPage(`http://one.test:${server.port}/p/${n}`)
        expect(Buffer.from(page.body).equals(pageBytes(n, size))).toBe(true)
        expect(page.body.buffer.byteLength - page.body.byteLength).toBeLessThanOrEqual(maxAdoptSlack)
        if (!ownsWholeBuffer(page.body)) {
          adopted++
          // What lies before the body is this response's head, and only that.
          const head = Buffer.from(page.body.buffer, 0, page.body.byteOffset).toString("latin1")
          expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/)
          expect(page.body.byteOffset + page.body.byteLength).toBe(page.body.buffer.byteLength)
        }
      }
      // A socket read can split under load; most of these bodies must still have come whole.
      expect(adopted).toBeGreaterThanOrEqual(10)
    }))

  it.live("bodies in many reads, chunked bodies and small bodies are copied into buffers of their own size", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        const n = pageNumber(req.url)
        const kind = req.url!.split("/")[1]
        const body = pageBytes(n, kind === "small" ? 1_000 : 60 * 1024)
        if (kind === "chunked") {
          res.write(body.subarray(0, 20_000))
          res.end(body.subarray(20_000))
        } else if (kind === "slow") {
          res.setHeader("content-length", body.length)
          res.write(body.subarray(0, 20_000))
          setTimeout(() => res.end(body.subarray(20_000)), 20)
        } else {
          res.setHeader("content-length", body.length)
          res.end(body)
        }
      })
      const fetcher = yield* makeFetcher()
      for (const kind of ["chunked", "slow", "small"]) {
        const page = yield* fetcher.fetchPage(server.url("many.test", `/${kind}/7`))
        expect(Buffer.from(page.body).equals(pageBytes(7, kind === "small" ? 1_000 : 60 * 1024))).toBe(true)
        expect(ownsWholeBuffer(page.body)).toBe(true)
      }
    }))

  it.live("pages fetched at once never share a buffer, and one transferred leaves the others whole", () =>
    Effect.gen(function*() {
      const size = 60 * 1024
      const server = yield* oneWrite(size)
      const fetcher = yield* makeFetcher({ perHostConcurrency: 16 })
      const pages = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i + 1),
        (n) => fetcher.fetchPage(`http://all.test:${server.port}/p/${n}`),
        { concurrency: "unbounded" }
      )
      expect(new Set(pages.map((page) => page.body.buffer)).size).toBe(pages.length)
      const moved = structuredClone(pages[0]!.body, { transfer: [pages[0]!.body.buffer as ArrayBuffer] })
      expect(pages[0]!.body.byteLength).toBe(0)
      expect(Buffer.from(moved).equals(pageBytes(1, size))).toBe(true)
      pages.slice(1).forEach((page, i) => expect(Buffer.from(page.body).equals(pageBytes(i + 2, size))).toBe(true))
    }))

  it.live("whatever the split of the response into reads, the body is exact and its buffer holds only its own response", () =>
    Effect.gen(function*() {
      // One seeded case per page: body size (0–100 KB, chunked or not) and the cut points of the
      // response's bytes, each piece written after the previous one was read.
      let seed = 20261201
      const random = (below: number) => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
        return Math.floor(seed / 2 ** 32 * below)
      }
      const cases = Array.from({ length: 60 }, (_, n) => {
        const size = [0, 1, 4095, 4096, 40 * 1024, 60 * 1024, 100 * 1024][n % 7]! + (n < 7 ? 0 : random(2048))
        return { n, size, chunked: random(4) === 0, cuts: Array.from({ length: random(4) }, () => random(size + 200)) }
      })
      const server = yield* Raw.start((socket) => {
        socket.setNoDelay(true)
        socket.on("data", (data) => {
          const c = cases[pageNumber(data.toString("latin1").split(" ")[1])]!
          const body = pageBytes(c.n, c.size)
          const bytes = c.chunked
            ? Buffer.concat([
              Buffer.from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
              ...(c.size === 0 ? [] : [Buffer.from(`${c.size.toString(16)}\r\n`), body, Buffer.from("\r\n")]),
              Buffer.from("0\r\n\r\n")
            ])
            : Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${c.size}\r\n\r\n`), body])
          const cuts = [...new Set(c.cuts.filter((cut) => cut > 0 && cut < bytes.length))].sort((a, b) => a - b)
          const pieces = [0, ...cuts].map((start, i) => bytes.subarray(start, cuts[i] ?? bytes.length))
          const next = () => {
            const piece = pieces.shift()
            if (piece !== undefined) socket.write(piece, () => setTimeout(next, 2))
          }
          next()
        })
      })
      const fetcher = yield* makeFetcher()
      const buffers = new Set<ArrayBufferLike>()
      let adopted = 0
      for (const c of cases) {
        const page = yield* fetcher.fetchPage(`http://split.test:${server.port}/p/${c.n}`)
        expect(Buffer.from(page.body).equals(pageBytes(c.n, c.size)), `page ${c.n}`).toBe(true)
        if (c.size === 0) continue
        expect(buffers.has(page.body.buffer), `page ${c.n}: a buffer of its own`).toBe(false)
        buffers.add(page.body.buffer)
        expect(page.body.buffer.byteLength - page.body.byteLength).toBeLessThanOrEqual(maxAdoptSlack)
        if (!ownsWholeBuffer(page.body)) {
          adopted++
          expect(c.chunked).toBe(false)
          expect(Buffer.from(page.body.buffer, 0, page.body.byteOffset).toString("latin1")).toBe(
            `HTTP/1.1 200 OK\r\ncontent-length: ${c.size}\r\n\r\n`
          )
          expect(page.body.byteOffset + page.body.byteLength).toBe(page.body.buffer.byteLength)
        }
      }
      // Uncut 40–60 KB pages came in one read: some of them were kept as that read.
      expect(adopted).toBeGreaterThan(0)
    }))

  it.live("empty bodies have buffers of their own too: transferring one breaks no later page", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/moved") {
          res.writeHead(301, { location: "/empty" })
          res.end()
          return
        }
        res.setHeader("content-type", "text/html")
        res.end(req.url === "/empty" ? "" : "<p>9.99</p>")
      })
      const fetcher = yield* makeFetcher()
      // What the worker extractor does with a fetched page: move its buffer to another thread.
      const hand = (page: Page.Page) => structuredClone(page.body, { transfer: [page.body.buffer as ArrayBuffer] })
      for (const path of ["/empty", "/moved", "/empty"]) {
        const page = yield* fetcher.fetchPage(server.url("empty.test", path))
        expect(page.body.byteLength).toBe(0)
        hand(page)
      }
      const full = yield* fetcher.fetchPage(server.url("empty.test", "/full"))
      expect(full.text).toBe("<p>9.99</p>")
      const again = yield* fetcher.fetchPage(server.url("empty.test", "/empty"))
      expect(again.text).toBe("")
    }))

  it.live("Page.release frees the body; releasing a 304 leaves other empty bodies usable", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.headers["if-none-match"] === "\"v1\"") {
          res.statusCode = 304
          res.end()
          return
        }
        res.setHeader("etag", "\"v1\"")
        res.end(pageBytes(3, 50_000))
      })
      const fetcher = yield* makeFetcher()
      const url = server.url("release.test", "/p/3")
      const page = yield* fetcher.fetchPage(url)
      const buffer = page.body.buffer as ArrayBuffer
      Page.release(page)
      expect(buffer.detached).toBe(true)
      expect(page.body.byteLength).toBe(0)
      Page.release(page)
      const first = yield* fetcher.fetchPage(new Page.FetchRequest({ url, validators: page.validators }))
      Page.release(first)
      const second = yield* fetcher.fetchPage(new Page.FetchRequest({ url, validators: page.validators }))
      expect(second.notModified).toBe(true)
      expect(second.text).toBe("")
    }))
})
