/**
 * Decoding a page body as received: undoing its `Content-Encoding` (with the
 * decompressed-size cap) and choosing its charset — what `fetchPage` does
 * itself unless asked for the body as received (`decodeBody: false`, see
 * `Fetcher.FetchPageOptions`), so that a consumer can do it on another
 * thread.
 *
 * This module is pure and cheap to load: it imports only `node:zlib`,
 * `Charset` and `FetchError` (no undici, no HTTP client), so an extraction
 * worker imports it as `@trawl/fetch/Decode` without loading the fetcher.
 * Its result is exactly the fetcher's own: the same bytes, the same charset,
 * or the same typed error with the same fields and message.
 *
 * @since 0.3.0
 */
import * as Charset from "./Charset.ts"
import * as FetchError from "./FetchError.ts"
import { decompress } from "./internal/decompress.ts"

/**
 * A body as received, and what is needed to decode it.
 *
 * @example
 * ```ts
 * import { Decode } from "@trawl/fetch"
 * const input: Decode.Input = {
 *   url: "http://a.test/", body: new TextEncoder().encode("<p>hi</p>"),
 *   contentEncoding: undefined, contentType: "text/html", maxDecompressedBytes: 32 * 1024 * 1024
 * }
 * ```
 * @since 0.3.0
 */
export interface Input {
  /** The page's URL (named in the errors). */
  readonly url: string
  /** The body as received (`Page.body` of a page fetched with `decodeBody: false`). */
  readonly body: Uint8Array
  /** The response's `Content-Encoding` (`Page.contentEncoding`); none: the body is not compressed. */
  readonly contentEncoding?: string | undefined
  /** The response's `Content-Type` (`page.headers["content-type"]`): its charset, else the body's BOM or `<meta>`. */
  readonly contentType?: string | undefined
  /** Largest body after decompression (`Fetcher.Options.maxDecompressedBytes`); past it, `DecompressionBomb`. */
  readonly maxDecompressedBytes: number
}

/**
 * A decoded body: its bytes (decompressed; the input itself when it was not
 * compressed) and the WHATWG name of its charset.
 *
 * @example
 * ```ts
 * import { Decode } from "@trawl/fetch"
 * const decoded: Decode.Decoded = { body: new Uint8Array(), charset: "utf-8" }
 * ```
 * @since 0.3.0
 */
export interface Decoded {
  /**
   * The decoded bytes. A decompressed body is in a buffer of exactly its bytes (it can be
   * transferred whole); an uncompressed one is the input's `body`.
   */
  readonly body: Uint8Array
  readonly charset: string
}

/**
 * Why a body cannot be decoded: it inflates past the cap, its encoding is
 * unsupported or corrupt, or it declares a charset no decoder knows.
 *
 * @example
 * ```ts
 * import { Decode, FetchError } from "@trawl/fetch"
 * const error: Decode.DecodeError = new FetchError.BadCharset({ url: "http://a.test/", charset: "x-klingon" })
 * ```
 * @since 0.3.0
 */
export type DecodeError = FetchError.DecompressionBomb | FetchError.BadContentEncoding | FetchError.BadCharset

/**
 * Decodes a body as received: decompression (each encoding of a stacked
 * `Content-Encoding` in turn, each step capped at `maxDecompressedBytes`),
 * then the charset (`Charset.sniff`: header, BOM, `<meta>`, else UTF-8).
 * Synchronous: a bomb costs no more than inflating the cap.
 *
 * @example
 * ```ts
 * import * as Zlib from "node:zlib"
 * import { Decode } from "@trawl/fetch"
 * const result = Decode.decode({
 *   url: "http://a.test/", body: Zlib.gzipSync("<meta charset=windows-1251>"),
 *   contentEncoding: "gzip", contentType: "text/html", maxDecompressedBytes: 1 << 20
 * })
 * Decode.isDecodeError(result) ? result._tag : result.charset // "windows-1251"
 * ```
 * @since 0.3.0
 */
export const decode = (input: Input): Decoded | DecodeError => {
  const url = input.url
  const body = input.contentEncoding === undefined
    ? input.body
    : decompress(input.body, input.contentEncoding, url, input.maxDecompressedBytes)
  if (!(body instanceof Uint8Array)) return body
  const sniffed = Charset.sniff(input.contentType, body)
  if (sniffed._tag === "Unknown") return new FetchError.BadCharset({ url, charset: sniffed.label })
  return { body, charset: sniffed.charset }
}

/**
 * Is `decode`'s result an error?
 *
 * @example
 * ```ts
 * import { Decode } from "@trawl/fetch"
 * Decode.isDecodeError({ body: new Uint8Array(), charset: "utf-8" }) // false
 * ```
 * @since 0.3.0
 */
export const isDecodeError = (result: Decoded | DecodeError): result is DecodeError => "_tag" in result
