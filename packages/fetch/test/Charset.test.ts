import { describe, expect, it } from "@effect/vitest"
import { Charset } from "@trawl/fetch"

const bytes = (text: string) => new TextEncoder().encode(text)

describe("Charset.sniff", () => {
  it("Content-Type wins, then BOM, then meta, then UTF-8", () => {
    const meta = bytes("<html><head><meta charset='windows-1251'></head>")
    expect(Charset.sniff("text/html; charset=ISO-8859-2", meta)).toEqual({ _tag: "Known", charset: "iso-8859-2", source: "header" })
    expect(Charset.sniff("text/html", new Uint8Array([0xef, 0xbb, 0xbf, 0x3c]))).toEqual({ _tag: "Known", charset: "utf-8", source: "bom" })
    expect(Charset.sniff("text/html", new Uint8Array([0xff, 0xfe, 0x3c, 0]))).toEqual({ _tag: "Known", charset: "utf-16le", source: "bom" })
    expect(Charset.sniff("text/html", meta)).toEqual({ _tag: "Known", charset: "windows-1251", source: "meta" })
    expect(Charset.sniff(undefined, bytes("<p>plain</p>"))).toEqual({ _tag: "Known", charset: "utf-8", source: "default" })
  })

  it("reads http-equiv and quoted header parameters; latin1 means windows-1252", () => {
    const equiv = bytes("<meta http-equiv=\"content-type\" content=\"text/html; charset=Shift_JIS\">")
    expect(Charset.sniff("text/html", equiv)).toMatchObject({ charset: "shift_jis", source: "meta" })
    expect(Charset.sniff("text/html; charset=\"latin1\"", new Uint8Array())).toMatchObject({ charset: "windows-1252" })
  })

  it("ignores meta past the first 1024 bytes and in non-HTML media types", () => {
    const late = bytes(" ".repeat(1100) + "<meta charset=koi8-r>")
    expect(Charset.sniff("text/html", late)).toMatchObject({ charset: "utf-8", source: "default" })
    expect(Charset.sniff("application/json", bytes("<meta charset=koi8-r>"))).toMatchObject({ source: "default" })
  })

  it("reports unknown labels instead of guessing", () => {
    expect(Charset.sniff("text/html; charset=x-klingon", new Uint8Array())).toEqual({ _tag: "Unknown", label: "x-klingon", source: "header" })
    expect(Charset.sniff("text/html", bytes("<meta charset=\"utf-9\">"))).toEqual({ _tag: "Unknown", label: "utf-9", source: "meta" })
    expect(Charset.normalize("replacement")).toBeUndefined()
  })

  it("decodes with the chosen charset", () => {
    expect(Charset.decode(new Uint8Array([0xf6, 0xe5, 0xed, 0xe0]), "windows-1251")).toBe("цена")
    expect(Charset.decode(new Uint8Array([0x80]), "windows-1252")).toBe("€")
    expect(Charset.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]), "utf-8")).toBe("A")
  })
})
