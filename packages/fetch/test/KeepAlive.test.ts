import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

describe("connection reuse", () => {
  it.live("sequential pages on one host reuse one keep-alive connection", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => res.end("<html>" + "x".repeat(60_000) + "</html>"))
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1 })
      for (let i = 0; i < 10; i++) yield* fetcher.fetchPage(server.url("ka.test", `/p/${i}`))
      expect(server.seen.length).toBe(10)
      expect(server.connections()).toBe(1)
    }))

  it.live("chunked bodies and redirects keep the connection too; a refused body closes it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        if (req.url === "/moved") {
          res.writeHead(301, { location: "/chunked" }).end("see /chunked")
        } else if (req.url === "/chunked") {
          res.write("<html>")
          res.end("x".repeat(30_000) + "</html>")
        } else {
          res.writeHead(200, { "content-length": String(10 * 1024 * 1024) })
          res.write("x")
        }
      })
      const fetcher = yield* makeFetcher({ perHostConcurrency: 1, maxBodyBytes: 1024 * 1024 })
      for (let i = 0; i < 5; i++) {
        const page = yield* fetcher.fetchPage(server.url("ka2.test", "/moved"))
        expect(page.body.byteLength).toBe(30_013)
      }
      expect(server.seen.length).toBe(10)
      expect(server.connections()).toBe(1)
      const refused = yield* Effect.flip(fetcher.fetchPage(server.url("ka2.test", "/big")))
      expect(refused._tag).toBe("BodyTooLarge")
      yield* fetcher.fetchPage(server.url("ka2.test", "/chunked"))
      expect(server.connections()).toBe(2)
    }))
})
