import { describe, expect, it } from "@effect/vitest"
import * as Zlib from "node:zlib"
import { decompress } from "../src/internal/body.ts"

const page = Buffer.from(`<html>${"Schöne Lampe, 129,99 € — ".repeat(4000)}</html>`)
const url = "http://shop.test/p/1"

const inflate = (body: Uint8Array, encoding: string, limit = 32 * 1024 * 1024) => {
  const output = decompress(body, encoding, url, limit)
  return output instanceof Uint8Array
    ? { _tag: "Success" as const, success: output }
    : { _tag: "Failure" as const, failure: output }
}

const owned = (bytes: Uint8Array) => bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength

/** gzip with its size trailer (ISIZE) replaced: it is a hint the output must not depend on. */
const withSizeTrailer = (gz: Buffer, size: number): Buffer => {
  const copy = Buffer.from(gz)
  copy.writeUInt32LE(size >>> 0, copy.length - 4)
  return copy
}

describe("decompress", () => {
  it("every encoding gives the page, in a buffer of exactly its bytes", () => {
    const encoded: Record<string, Buffer> = {
      gzip: Zlib.gzipSync(page),
      br: Zlib.brotliCompressSync(page),
      zstd: Zlib.zstdCompressSync(page),
      deflate: Zlib.deflateSync(page),
      "gzip, br": Zlib.brotliCompressSync(Zlib.gzipSync(page))
    }
    for (const [encoding, body] of Object.entries(encoded)) {
      const result = inflate(body, encoding)
      if (result._tag !== "Success") throw new Error(`${encoding}: ${result.failure._tag}`)
      expect(Buffer.from(result.success).equals(page), encoding).toBe(true)
      expect(owned(result.success), encoding).toBe(true)
    }
  })

  it("a gzip size trailer that lies (small, large, 4 GiB) changes nothing but the work", () => {
    const gz = Zlib.gzipSync(page)
    for (const size of [0, 1, 100, page.length - 1, page.length + 1, 10 * page.length, 2 ** 32 - 1]) {
      // Node verifies ISIZE at the end of a member: a wrong one is a corrupt stream, not a wrong page
      const result = inflate(withSizeTrailer(gz, size), "gzip")
      if (result._tag === "Success") expect(Buffer.from(result.success).equals(page), `ISIZE ${size}`).toBe(true)
      else expect(result.failure._tag, `ISIZE ${size}`).toBe("BadContentEncoding")
    }
  })

  it("several gzip members (the trailer states only the last one's size)", () => {
    const halves = [page.subarray(0, 1000), page.subarray(1000)]
    const members = Buffer.concat([Zlib.gzipSync(halves[0]!), Zlib.gzipSync(halves[1]!)])
    const tiny = Buffer.concat([Zlib.gzipSync(halves[1]!), Zlib.gzipSync(halves[0]!)])
    for (const body of [members, tiny]) {
      const result = inflate(body, "gzip")
      if (result._tag !== "Success") throw new Error(result.failure._tag)
      expect(Buffer.from(result.success).length).toBe(page.length)
      expect(owned(result.success)).toBe(true)
    }
  })

  it("small pages are copied out of Node's shared pool", () => {
    const small = Buffer.from("<p>9.99</p>")
    const result = inflate(Zlib.gzipSync(small), "gzip")
    if (result._tag !== "Success") throw new Error(result.failure._tag)
    expect(Buffer.from(result.success).equals(small)).toBe(true)
    expect(owned(result.success)).toBe(true)
  })

  it("past the cap it is a DecompressionBomb, whatever the size trailer claims", () => {
    const bomb = Zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024))
    for (const body of [bomb, withSizeTrailer(bomb, 10)]) {
      const result = inflate(body, "gzip", 1024 * 1024)
      expect(result._tag === "Failure" && result.failure._tag).toBe("DecompressionBomb")
    }
  })
})
