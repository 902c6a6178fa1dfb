import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { decode } from "../src/internal/decode.ts"

const LABELS = [
  "utf-8", "utf8", "unicode-1-1-utf-8", "windows-1252", "cp1252", "x-cp1252", "iso-8859-1", "latin1", "l1", "ascii",
  "us-ascii", "iso-8859-2", "iso-8859-15", "windows-1251", "utf-16le", "utf-16be", "shift_jis", "gb18030"
]

const same = (bytes: Uint8Array, label: string) =>
  expect(decode(bytes, new TextDecoder(label)), label).toBe(new TextDecoder(label).decode(bytes))

describe("decode", () => {
  it("every byte value, alone and between ASCII, in every encoding", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const spaced = Uint8Array.from({ length: 512 }, (_, i) => (i % 2 === 0 ? i / 2 : 0x3c))
    for (const label of LABELS) {
      same(all, label)
      same(spaced, label)
      for (let b = 0; b < 256; b++) same(Uint8Array.of(0x61, b, 0x62), label)
    }
  })

  it("ASCII pages, BOMs, and views into a larger buffer", () => {
    const page = new TextEncoder().encode(`<!doctype html><title>Lamp</title><p>9.99 EUR</p>`)
    const bom = Uint8Array.of(0xef, 0xbb, 0xbf, ...page)
    const backing = new Uint8Array(page.length + 20).fill(0xe9)
    backing.set(page, 10)
    const view = backing.subarray(10, 10 + page.length)
    for (const label of LABELS) {
      same(page, label)
      same(bom, label)
      same(view, label)
      same(new Uint8Array(0), label)
    }
  })

  it("random bytes: the same string as TextDecoder", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300, max: 0x7f }),
          fc.string({ unit: "binary", maxLength: 100 }).map((s) => new TextEncoder().encode(s))
        ),
        fc.constantFrom(...LABELS),
        (bytes, label) => {
          same(bytes, label)
        }
      ),
      { numRuns: 3000 }
    )
  })
})
