/**
 * Charset sniffing and decoding of fetched pages.
 *
 * The charset is chosen in this order: the `charset` parameter of
 * `Content-Type`, then a byte-order mark, then a `<meta charset>` or
 * `<meta http-equiv="Content-Type" content="…; charset=…">` within the first
 * 1024 bytes (HTML only), else UTF-8. A declared charset that no decoder knows
 * is reported as unknown, never guessed: the caller turns it into a typed
 * `BadCharset` rather than storing mojibake.
 *
 * Labels are resolved with WHATWG `TextDecoder` (Node ships full ICU), so
 * `latin1` means `windows-1252` exactly as in browsers.
 *
 * @since 0.1.0
 */
import { TextDecoder } from "node:util"

/**
 * Outcome of sniffing: a WHATWG encoding name and where it came from, or the
 * label that no decoder knows.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * const sniffed: Charset.Sniffed = Charset.sniff(undefined, new Uint8Array())
 * sniffed._tag // "Known"
 * ```
 * @since 0.1.0
 */
export type Sniffed =
  | { readonly _tag: "Known"; readonly charset: string; readonly source: "header" | "bom" | "meta" | "default" }
  | { readonly _tag: "Unknown"; readonly label: string; readonly source: "header" | "meta" }

/** How far into the body `<meta>` is looked for (the HTML prescan length). */
const metaPrescanBytes = 1024

const decoders = new Map<string, TextDecoder>()

/**
 * The WHATWG encoding name for a label, or `undefined` when no decoder knows it.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * Charset.normalize("Latin1") // "windows-1252"
 * Charset.normalize("x-klingon") // undefined
 * ```
 * @since 0.1.0
 */
export const normalize = (label: string): string | undefined => {
  const key = label.trim().toLowerCase()
  const cached = decoders.get(key)
  if (cached !== undefined) return cached.encoding
  try {
    const decoder = new TextDecoder(key)
    // "replacement" decodes everything to U+FFFD: that is mojibake by design.
    if (decoder.encoding === "replacement") return undefined
    if (decoders.size < 256) decoders.set(key, decoder)
    return decoder.encoding
  } catch {
    return undefined
  }
}

/**
 * The `charset` parameter of a `Content-Type` value, if any.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * Charset.fromContentType("text/html; charset=\"ISO-8859-1\"") // "ISO-8859-1"
 * ```
 * @since 0.1.0
 */
export const fromContentType = (contentType: string | undefined): string | undefined => {
  if (contentType === undefined) return undefined
  const match = /;\s*charset\s*=\s*("([^"]*)"|[^;\s]*)/i.exec(contentType)
  if (match === null) return undefined
  const value = (match[2] ?? match[1] ?? "").trim()
  return value === "" ? undefined : value
}

/**
 * The charset a byte-order mark announces, if the body starts with one.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * Charset.fromBom(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])) // "utf-8"
 * ```
 * @since 0.1.0
 */
export const fromBom = (bytes: Uint8Array): string | undefined => {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return "utf-8"
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return "utf-16be"
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le"
  return undefined
}

const metaCharset = /<meta\s[^>]*?charset\s*=\s*["']?\s*([^"'\s/>;]+)/i
const metaHttpEquiv = /<meta\s[^>]*?http-equiv\s*=\s*["']?content-type["']?[^>]*>/i
const metaContent = /content\s*=\s*("([^"]*)"|'([^']*)')/i

/**
 * The charset declared by `<meta charset>` or `<meta http-equiv>` within the
 * first 1024 bytes, if any.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * Charset.fromMeta(new TextEncoder().encode("<meta charset=\"windows-1251\">")) // "windows-1251"
 * ```
 * @since 0.1.0
 */
export const fromMeta = (bytes: Uint8Array): string | undefined => {
  const head = latin1(bytes.subarray(0, metaPrescanBytes))
  const equiv = metaHttpEquiv.exec(head)
  if (equiv !== null) {
    const content = metaContent.exec(equiv[0])
    const declared = fromContentType(content?.[2] ?? content?.[3])
    if (declared !== undefined) return declared
  }
  const direct = metaCharset.exec(head)
  return direct?.[1]
}

const latin1 = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 8192)))
  }
  return out
}

/**
 * Chooses the charset of a body: header, BOM, `<meta>` (when the media type
 * is HTML or unknown), else UTF-8.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * Charset.sniff("text/html; charset=utf-8", new Uint8Array()) // { _tag: "Known", charset: "utf-8", source: "header" }
 * Charset.sniff("text/html; charset=x-klingon", new Uint8Array()) // { _tag: "Unknown", label: "x-klingon", source: "header" }
 * ```
 * @since 0.1.0
 */
export const sniff = (contentType: string | undefined, bytes: Uint8Array): Sniffed => {
  const declared = fromContentType(contentType)
  if (declared !== undefined) {
    const charset = normalize(declared)
    return charset === undefined
      ? { _tag: "Unknown", label: declared, source: "header" }
      : { _tag: "Known", charset, source: "header" }
  }
  const bom = fromBom(bytes)
  if (bom !== undefined) return { _tag: "Known", charset: bom, source: "bom" }
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase()
  if (mediaType === undefined || mediaType === "" || mediaType.includes("html") || mediaType.includes("xml")) {
    const meta = fromMeta(bytes)
    if (meta !== undefined) {
      const charset = normalize(meta)
      // A page served as UTF-16 cannot carry an ASCII meta tag: HTML says treat it as UTF-8.
      if (charset === "utf-16le" || charset === "utf-16be") return { _tag: "Known", charset: "utf-8", source: "meta" }
      return charset === undefined
        ? { _tag: "Unknown", label: meta, source: "meta" }
        : { _tag: "Known", charset, source: "meta" }
    }
  }
  return { _tag: "Known", charset: "utf-8", source: "default" }
}

/**
 * Decodes bytes with a charset that `normalize` accepted. Invalid byte
 * sequences become U+FFFD (as in browsers); a leading BOM is dropped.
 *
 * @example
 * ```ts
 * import { Charset } from "@trawl/fetch"
 * Charset.decode(new Uint8Array([0xe9]), "windows-1252") // "é"
 * ```
 * @since 0.1.0
 */
export const decode = (bytes: Uint8Array, charset: string): string => {
  let decoder = decoders.get(charset)
  if (decoder === undefined) {
    decoder = new TextDecoder(charset)
    decoders.set(charset, decoder)
  }
  return decoder.decode(bytes)
}
