import { describe, expect, it } from "vitest"
import { TextDecoder } from "node:util"
import { encode } from "../src/internal/encode.ts"

describe("encode", () => {
  const text = "Crème € – “x” 😀 \u0085 ÿ"
  it("writes windows-1252 bytes, with references for what it cannot hold", () => {
    const bytes = encode(text, "windows-1252")
    expect(bytes.includes(0x80)).toBe(true) // €
    expect(new TextDecoder("windows-1252").decode(bytes)).toBe("Crème € – “x” &#128512; &#133; ÿ")
  })
  it("writes ISO-8859-1 bytes, € and quotes as references", () => {
    expect(new TextDecoder("iso-8859-1").decode(encode(text, "iso-8859-1"))).toBe(
      "Crème &#8364; &#8211; &#8220;x&#8221; &#128512; &#133; ÿ"
    )
  })
  it("writes UTF-8 for anything else", () => {
    expect(encode(text, "utf-8").toString("utf8")).toBe(text)
  })
})
