import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import { Worker } from "node:worker_threads"
import * as Zlib from "node:zlib"
import { Charset, Decode, FetchError, Page } from "@trawl/fetch"
import { decompress } from "../src/internal/decompress.ts"
import { makeFetcher } from "./support/fetcher.ts"
import * as TestServer from "./support/server.ts"

const url = "http://dec.test/p"

/**
 * What `settle` made of a 2xx body before decoding moved to `Decode` (its lines as they were):
 * decompress when there is a Content-Encoding, then sniff the charset.
 */
const settledBefore = (
  raw: Uint8Array,
  headers: Readonly<Record<string, string>>,
  href: string,
  maxDecompressedBytes: number
): { readonly body: Uint8Array; readonly charset: string } | FetchError.FetchError => {
  const encoding = headers["content-encoding"]
  const body = encoding === undefined ? raw : decompress(raw, encoding, href, maxDecompressedBytes)
  if (!(body instanceof Uint8Array)) return body
  const sniffed = Charset.sniff(headers["content-type"], body)
  if (sniffed._tag === "Unknown") return new FetchError.BadCharset({ url: href, charset: sniffed.label })
  return { body, charset: sniffed.charset }
}

/** A result as plain data: the bytes and charset, or the error's tag, fields and message. */
const shape = (result: { readonly body: Uint8Array; readonly charset: string } | FetchError.FetchError) =>
  "_tag" in result
    ? { error: { ...result, message: result.message } }
    : { bytes: Buffer.from(result.body).toString("base64"), charset: result.charset }

// ---- generated pages: a body, its charset declarations, its encodings, what went wrong on the way ----

type Step = "gzip" | "x-gzip" | "deflate" | "deflate-raw" | "br" | "zstd" | "identity" | "lzma"

const encodeStep = (bytes: Buffer, step: Step): Buffer => {
  switch (step) {
    case "gzip":
    case "x-gzip":
      return Zlib.gzipSync(bytes, { level: 1 })
    case "deflate":
      return Zlib.deflateSync(bytes)
    case "deflate-raw":
      return Zlib.deflateRawSync(bytes)
    case "br":
      return Zlib.brotliCompressSync(bytes, { params: { [Zlib.constants.BROTLI_PARAM_QUALITY]: 1 } })
    case "zstd":
      return Zlib.zstdCompressSync(bytes)
    case "identity":
    case "lzma": // not ours to decode: sent as it is, named as it is
      return bytes
  }
}
const headerName = (step: Step) => step === "deflate-raw" ? "deflate" : step

interface Case {
  readonly plain: Buffer
  readonly steps: ReadonlyArray<Step>
  /** The Content-Encoding header as sent (case and spacing vary); undefined for none. */
  readonly header: string | undefined
  readonly contentType: string | undefined
  readonly damage: "none" | "truncate" | "lie" | "garbage"
  readonly cut: number
  readonly trailer: number
  readonly limit: number
}

const metaCharsets = ["windows-1251", "shift_jis", "koi8-r", "utf-16le", "ISO-8859-2", "x-vulcan", "utf-9"]
const headerCharsets = ["utf-8", "\"latin1\"", "windows-1252", "gb18030", "x-klingon"]

const bodyArb = fc.record({
  bom: fc.constantFrom(undefined, [0xef, 0xbb, 0xbf], [0xfe, 0xff], [0xff, 0xfe]),
  meta: fc.option(
    fc.tuple(fc.constantFrom(...metaCharsets), fc.boolean()).map(([charset, equiv]) =>
      equiv ? `<meta http-equiv="Content-Type" content="text/html; charset=${charset}">` : `<meta charset="${charset}">`
    ),
    { nil: undefined }
  ),
  // before the meta tag: past 1024 bytes it is not looked at
  padding: fc.constantFrom(0, 10, 1100),
  text: fc.uint8Array({ maxLength: 3000 }),
  // long runs compress well: the bombs (past the cap, small on the wire)
  zeros: fc.constantFrom(0, 0, 20_000, 80_000)
}).map(({ bom, meta, padding, text, zeros }) =>
  Buffer.concat([
    Buffer.from(bom ?? []),
    Buffer.from(" ".repeat(padding) + (meta ?? "") + "<p>"),
    Buffer.from(text),
    Buffer.alloc(zeros)
  ])
)

const caseArb: fc.Arbitrary<Case> = fc.record({
  plain: bodyArb,
  steps: fc.array(fc.constantFrom<Step>("gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd", "identity", "lzma"), {
    maxLength: 2
  }),
  upper: fc.boolean(),
  spaced: fc.boolean(),
  contentType: fc.constantFrom(
    undefined,
    "text/html",
    "application/json",
    "text/plain",
    ...headerCharsets.map((charset) => `text/html; charset=${charset}`)
  ),
  damage: fc.constantFrom("none", "none", "truncate", "lie", "garbage"),
  cut: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
  trailer: fc.nat(),
  limit: fc.constantFrom(4_096, 32_768, 65_536, 1 << 20)
}).map(({ contentType, cut, damage, limit, plain, spaced, steps, trailer, upper }) => {
  const names = steps.map(headerName)
  const joined = names.join(spaced ? " ,  " : ",")
  return {
    plain,
    steps,
    header: steps.length === 0 ? undefined : upper ? joined.toUpperCase() : joined,
    contentType,
    damage,
    cut,
    trailer,
    limit
  }
})

/** The body on the wire: each step applied in order, then the damage. */
const wire = (c: Case): Buffer => {
  let bytes = c.plain
  for (const step of c.steps) bytes = encodeStep(bytes, step)
  switch (c.damage) {
    case "none":
      return bytes
    case "truncate":
      return bytes.subarray(0, Math.floor(bytes.length * c.cut))
    case "lie": {
      // a gzip size trailer (ISIZE) that says anything: a hint the result must not depend on
      if (bytes.length < 4) return bytes
      const copy = Buffer.from(bytes)
      copy.writeUInt32LE(c.trailer >>> 0, copy.length - 4)
      return copy
    }
    case "garbage": {
      const copy = Buffer.from(bytes)
      if (copy.length > 0) copy[Math.floor(copy.length * c.cut)]! ^= 0x5a
      return copy
    }
  }
}

const headersOf = (c: Case): Record<string, string> => ({
  ...(c.header === undefined ? {} : { "content-encoding": c.header }),
  ...(c.contentType === undefined ? {} : { "content-type": c.contentType })
})

const decodeCase = (c: Case, body: Uint8Array) =>
  Decode.decode({ url, body, contentEncoding: c.header, contentType: c.contentType, maxDecompressedBytes: c.limit })

describe("Decode", () => {
  it("gives byte for byte what settle gave: encodings, stacks, lying trailers, bombs, truncation, charsets", () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(caseArb, (c) => {
        const body = wire(c)
        const before = shape(settledBefore(new Uint8Array(body), headersOf(c), url, c.limit))
        const after = shape(decodeCase(c, new Uint8Array(body)))
        expect(after).toEqual(before)
        seen.add("error" in after ? after.error._tag : after.charset)
      }),
      { numRuns: 400 }
    )
    // the generator reaches every outcome: each error, UTF-8 and charsets from a header or a meta tag
    for (const outcome of ["DecompressionBomb", "BadContentEncoding", "BadCharset", "utf-8"]) {
      expect(seen.has(outcome), outcome).toBe(true)
    }
    expect([...seen].filter((outcome) => !/^(Bad|Decompression|utf-8$)/.test(outcome)).length).toBeGreaterThanOrEqual(3)
  })

  it("an intact body decodes to the page that was encoded", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        fc.pre(!c.steps.includes("lzma") && c.plain.length <= 8_000)
        const decoded = decodeCase({ ...c, damage: "none", limit: 1 << 20 }, new Uint8Array(wire({ ...c, damage: "none" })))
        if (Decode.isDecodeError(decoded)) {
          expect(decoded._tag).toBe("BadCharset")
        } else {
          expect(Buffer.from(decoded.body).equals(c.plain)).toBe(true)
        }
      }),
      { numRuns: 200 }
    )
  })

  it("the typed errors, their fields and messages", () => {
    const page = Buffer.from("<html><p>9.99</p></html>".repeat(200))
    const bomb = Zlib.gzipSync(Buffer.alloc(1 << 20))
    const limit = 64 * 1024
    const errorOf = (input: Omit<Decode.Input, "url" | "maxDecompressedBytes">) => {
      const result = Decode.decode({ url, maxDecompressedBytes: limit, ...input })
      if (!Decode.isDecodeError(result)) throw new Error("decoded")
      return result
    }
    const exploded = errorOf({ body: bomb, contentEncoding: "gzip" })
    expect(exploded).toEqual(new FetchError.DecompressionBomb({ url, encoding: "gzip", limit }))
    expect(exploded.message).toBe(`gzip body decompresses past ${limit} bytes: ${url}`)
    // the inner step of a stack explodes: that encoding is named
    const stacked = errorOf({ body: Zlib.brotliCompressSync(bomb), contentEncoding: "gzip, br" })
    expect(stacked._tag === "DecompressionBomb" && stacked.encoding).toBe("gzip")
    const truncated = errorOf({ body: Zlib.gzipSync(page).subarray(0, 40), contentEncoding: "gzip" })
    expect(truncated._tag).toBe("BadContentEncoding")
    expect(truncated._tag === "BadContentEncoding" && truncated.reason).toBe("unexpected end of file")
    const unknown = errorOf({ body: page, contentEncoding: "lzma" })
    expect(unknown).toEqual(new FetchError.BadContentEncoding({ url, encoding: "lzma", reason: "unsupported encoding" }))
    const charset = errorOf({ body: Buffer.from("<meta charset=x-vulcan>"), contentType: "text/html" })
    expect(charset).toEqual(new FetchError.BadCharset({ url, charset: "x-vulcan" }))
    expect(charset.message).toBe(`unknown charset "x-vulcan": ${url}`)
  })

  it("identity and no encoding hand back the input itself; sniffing reads the decoded bytes", () => {
    const body = new TextEncoder().encode("<meta charset=koi8-r><p>x</p>")
    for (const contentEncoding of [undefined, "identity", " Identity "]) {
      const decoded = Decode.decode({ url, body, contentEncoding, contentType: "text/html", maxDecompressedBytes: 1024 })
      expect(!Decode.isDecodeError(decoded) && decoded.body).toBe(body)
      expect(!Decode.isDecodeError(decoded) && decoded.charset).toBe("koi8-r")
    }
    const gzipped = Decode.decode({ url, body: Zlib.gzipSync(body), contentEncoding: "gzip", contentType: "text/html; charset=utf-8", maxDecompressedBytes: 1024 })
    expect(!Decode.isDecodeError(gzipped) && gzipped.charset).toBe("utf-8")
  })

  it.live("@trawl/fetch/Decode loads in a worker without undici (the index loads it)", () =>
    Effect.gen(function*() {
      const load = (specifier: string) =>
        Effect.promise(() =>
          new Promise<{ loaded: Array<string>; charset: string; bytes: number }>((resolve, reject) => {
            const worker = new Worker(new URL("./support/load-worker.ts", import.meta.url), {
              workerData: { specifier },
              execArgv: ["--conditions=@trawl/source"]
            })
            worker.once("message", (message) => {
              resolve(message)
              void worker.terminate()
            })
            worker.once("error", reject)
          })
        )
      const decodeOnly = yield* load("@trawl/fetch/Decode")
      expect(decodeOnly.charset).toBe("windows-1251")
      expect(decodeOnly.loaded.some((module) => module.endsWith("/src/Decode.ts"))).toBe(true)
      expect(decodeOnly.loaded.filter((module) => /undici|platform-node|node:http|node:net/.test(module))).toEqual([])
      // the control: the same check sees undici when the index is loaded
      const index = yield* load("@trawl/fetch")
      expect(index.charset).toBe("windows-1251")
      expect(index.loaded.some((module) => module.includes("/undici/"))).toBe(true)
    }))
})

describe("fetchPage with decodeBody: false", () => {
  it.live("hands back exactly the bytes the server sent, with their encoding; Decode of them is the decoded fetch", () =>
    Effect.gen(function*() {
      const cases = new Map<string, { readonly body: Buffer; readonly headers: Record<string, string> }>()
      const server = yield* TestServer.start((req, res) => {
        const served = cases.get(req.url ?? "")!
        res.writeHead(200, { ...served.headers, "content-length": served.body.length })
        res.end(served.body)
      })
      const limit = 32_768
      const fetcher = yield* makeFetcher({ maxDecompressedBytes: limit, maxRetries: 0 })
      let n = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(caseArb, async (generated) => {
            const c = { ...generated, limit }
            const path = `/c/${n++}`
            const body = wire(c)
            cases.set(path, { body, headers: headersOf(c) })
            const target = server.url("raw.test", path)
            const [decoded, raw] = await Effect.runPromise(Effect.all([
              Effect.result(fetcher.fetchPage(target)),
              fetcher.fetchPage(target, { decodeBody: false })
            ]))
            cases.delete(path)
            expect(Buffer.from(raw.body).equals(body)).toBe(true)
            expect(raw.contentEncoding).toBe(c.header)
            expect(raw.charset).toBe("")
            const after = shape(Decode.decode({
              url: raw.url,
              body: raw.body,
              contentEncoding: raw.contentEncoding,
              contentType: raw.headers["content-type"],
              maxDecompressedBytes: fetcher.options.maxDecompressedBytes
            }))
            const before = decoded._tag === "Success"
              ? shape({ body: decoded.success.body, charset: decoded.success.charset })
              : shape(decoded.failure)
            expect(after).toEqual(before)
            if (decoded._tag === "Success") expect(decoded.success.contentEncoding).toBeUndefined()
          }),
          { numRuns: 60 }
        )
      )
    }))

  it.live("a bomb as received is its compressed bytes (maxBodyBytes still caps them); a 304 has no encoding", () =>
    Effect.gen(function*() {
      const bomb = Zlib.gzipSync(Buffer.alloc(16 << 20))
      const server = yield* TestServer.start((req, res) => {
        if (req.headers["if-none-match"] === "\"b\"") return void res.writeHead(304, { etag: "\"b\"" }).end()
        res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/html", etag: "\"b\"" })
        res.end(bomb)
      })
      const fetcher = yield* makeFetcher({ maxDecompressedBytes: 1 << 20, maxRetries: 0 })
      const target = server.url("bomb.test", "/")
      const raw = yield* fetcher.fetchPage(target, { decodeBody: false })
      expect(raw.body.byteLength).toBe(bomb.length)
      expect(raw.contentEncoding).toBe("gzip")
      const error = yield* Effect.flip(fetcher.fetchPage(target))
      expect(error).toEqual(new FetchError.DecompressionBomb({ url: target, encoding: "gzip", limit: 1 << 20 }))
      const small = yield* makeFetcher({ maxBodyBytes: 1024, maxRetries: 0 })
      const tooLarge = yield* Effect.flip(small.fetchPage(target, { decodeBody: false }))
      expect(tooLarge._tag).toBe("BodyTooLarge")
      const unchanged = yield* fetcher.fetchPage(new Page.FetchRequest({ url: target, validators: raw.validators }), {
        decodeBody: false
      })
      expect(unchanged.notModified).toBe(true)
      expect(unchanged.contentEncoding).toBeUndefined()
    }))
})
