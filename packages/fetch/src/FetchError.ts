/**
 * Typed failures of `Fetcher.fetchPage`. Every error carries the URL it is
 * about, so the app can count the outcome and log one line with the URL.
 *
 * `isRetryable` says which failures the fetcher retries (connect errors,
 * resets, 5xx, 408 and 429), all within one deadline per call; the others,
 * timeouts included, are final at once.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The request did not finish in time. `phase` says which limit fired:
 * `connect` (DNS + TCP/TLS), `headers` (time to the response head), `total`
 * (the whole attempt including the body).
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.Timeout({ url: "http://a.test/", phase: "headers", millis: 10_000 })
 * error.message // "headers timeout after 10000 ms: http://a.test/"
 * ```
 * @since 0.1.0
 */
export class Timeout extends Data.TaggedError("Timeout")<{
  readonly url: string
  readonly phase: "connect" | "headers" | "total"
  readonly millis: number
}> {
  override get message(): string {
    return `${this.phase} timeout after ${this.millis} ms: ${this.url}`
  }
}

/**
 * No connection could be made (refused, unreachable, DNS failure, TLS failure).
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.ConnectFailed({ url: "http://a.test/", code: "ECONNREFUSED", reason: "connect ECONNREFUSED 127.0.0.1:1" })
 * ```
 * @since 0.1.0
 */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly url: string
  readonly code: string
  readonly reason: string
}> {
  override get message(): string {
    return `connect failed (${this.code}): ${this.reason}: ${this.url}`
  }
}

/**
 * The connection broke after it was made: reset, closed by the peer mid-body,
 * or a malformed response.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.ConnectionLost({ url: "http://a.test/", code: "ECONNRESET", reason: "socket hang up" })
 * ```
 * @since 0.1.0
 */
export class ConnectionLost extends Data.TaggedError("ConnectionLost")<{
  readonly url: string
  readonly code: string
  readonly reason: string
}> {
  override get message(): string {
    return `connection lost (${this.code}): ${this.reason}: ${this.url}`
  }
}

/**
 * The final response had an error status (4xx or 5xx, after retries).
 * `retryAfterMillis` is the server's `Retry-After`, when it sent one.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.HttpStatus({ url: "http://a.test/", status: 404 })
 * error.message // "HTTP 404: http://a.test/"
 * ```
 * @since 0.1.0
 */
export class HttpStatus extends Data.TaggedError("HttpStatus")<{
  readonly url: string
  readonly status: number
  readonly retryAfterMillis?: number | undefined
}> {
  override get message(): string {
    return `HTTP ${this.status}: ${this.url}`
  }
}

/**
 * The body is larger than `maxBodyBytes`: either the `Content-Length` said so
 * (nothing was read) or the stream passed the limit and was aborted.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.BodyTooLarge({ url: "http://a.test/", limit: 1024 })
 * ```
 * @since 0.1.0
 */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{
  readonly url: string
  readonly limit: number
  readonly contentLength?: number | undefined
}> {
  override get message(): string {
    const declared = this.contentLength === undefined ? "" : ` (Content-Length ${this.contentLength})`
    return `body larger than ${this.limit} bytes${declared}: ${this.url}`
  }
}

/**
 * Too many redirects, or a redirect back to a URL already visited (`loop`).
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.TooManyRedirects({ url: "http://a.test/", limit: 5, chain: ["http://a.test/", "http://a.test/b"], loop: true })
 * ```
 * @since 0.1.0
 */
export class TooManyRedirects extends Data.TaggedError("TooManyRedirects")<{
  readonly url: string
  readonly limit: number
  readonly chain: ReadonlyArray<string>
  readonly loop: boolean
}> {
  override get message(): string {
    return this.loop
      ? `redirect loop after ${this.chain.length} hops: ${this.chain.join(" -> ")}`
      : `more than ${this.limit} redirects: ${this.url}`
  }
}

/**
 * The decompressed body would exceed `maxDecompressedBytes` (a compression bomb).
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.DecompressionBomb({ url: "http://a.test/", encoding: "gzip", limit: 1 << 20 })
 * ```
 * @since 0.1.0
 */
export class DecompressionBomb extends Data.TaggedError("DecompressionBomb")<{
  readonly url: string
  readonly encoding: string
  readonly limit: number
}> {
  override get message(): string {
    return `${this.encoding} body decompresses past ${this.limit} bytes: ${this.url}`
  }
}

/**
 * The body could not be decoded: an unsupported `Content-Encoding` or corrupt
 * compressed data.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.BadContentEncoding({ url: "http://a.test/", encoding: "lzma", reason: "unsupported" })
 * ```
 * @since 0.1.0
 */
export class BadContentEncoding extends Data.TaggedError("BadContentEncoding")<{
  readonly url: string
  readonly encoding: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot decode Content-Encoding ${this.encoding} (${this.reason}): ${this.url}`
  }
}

/**
 * robots.txt of the host does not allow our user agent to fetch this URL
 * (or robots.txt was unreachable, which RFC 9309 treats as "disallow all").
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.RobotsDisallowed({ url: "http://a.test/private", rule: "/private" })
 * ```
 * @since 0.1.0
 */
export class RobotsDisallowed extends Data.TaggedError("RobotsDisallowed")<{
  readonly url: string
  /** The matching `Disallow` pattern, or `unreachable` when robots.txt could not be fetched. */
  readonly rule: string
}> {
  override get message(): string {
    return `disallowed by robots.txt (${this.rule}): ${this.url}`
  }
}

/**
 * The host resolved to an address the SSRF guard refuses (private, loopback,
 * link-local, cloud metadata, …). The check is made on the resolved address.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.ForbiddenAddress({ url: "http://evil.test/", host: "evil.test", address: "169.254.169.254", range: "metadata" })
 * ```
 * @since 0.1.0
 */
export class ForbiddenAddress extends Data.TaggedError("ForbiddenAddress")<{
  readonly url: string
  readonly host: string
  readonly address: string
  readonly range: string
}> {
  override get message(): string {
    return `${this.host} resolves to ${this.address} (${this.range}), which is not allowed: ${this.url}`
  }
}

/**
 * The per-host circuit breaker is open after repeated failures; no request was
 * sent. `retryAt` is the epoch millisecond of the next probe.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.CircuitOpen({ url: "http://a.test/", host: "a.test", retryAt: 0 })
 * ```
 * @since 0.1.0
 */
export class CircuitOpen extends Data.TaggedError("CircuitOpen")<{
  readonly url: string
  readonly host: string
  readonly retryAt: number
}> {
  override get message(): string {
    return `circuit open for ${this.host} until ${new Date(this.retryAt).toISOString()}: ${this.url}`
  }
}

/**
 * The page declares a charset (header or `<meta>`) that we cannot decode.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.BadCharset({ url: "http://a.test/", charset: "x-klingon" })
 * ```
 * @since 0.1.0
 */
export class BadCharset extends Data.TaggedError("BadCharset")<{
  readonly url: string
  readonly charset: string
}> {
  override get message(): string {
    return `unknown charset "${this.charset}": ${this.url}`
  }
}

/**
 * The URL (given, or from a `Location` header) is not a valid absolute
 * http(s) URL.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const error = new FetchError.InvalidUrl({ url: "ftp://a.test/", reason: "scheme must be http or https" })
 * ```
 * @since 0.1.0
 */
export class InvalidUrl extends Data.TaggedError("InvalidUrl")<{
  readonly url: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid URL (${this.reason}): ${this.url}`
  }
}

/**
 * Every way `fetchPage` can fail.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * const describe = (error: FetchError.FetchError) => `${error._tag} ${error.url}`
 * ```
 * @since 0.1.0
 */
export type FetchError =
  | Timeout
  | ConnectFailed
  | ConnectionLost
  | HttpStatus
  | BodyTooLarge
  | TooManyRedirects
  | DecompressionBomb
  | BadContentEncoding
  | RobotsDisallowed
  | ForbiddenAddress
  | CircuitOpen
  | BadCharset
  | InvalidUrl

/**
 * Whether the fetcher retries this failure: connect errors, lost connections,
 * 5xx, 408 and 429. Everything else is a property of the page or of our
 * policy and would fail the same way again — or, a `Timeout`, has used the
 * call's time already (a later visit may fare better).
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * FetchError.isRetryable(new FetchError.HttpStatus({ url: "http://a.test/", status: 503 })) // true
 * FetchError.isRetryable(new FetchError.HttpStatus({ url: "http://a.test/", status: 404 })) // false
 * ```
 * @since 0.1.0
 */
export const isRetryable = (error: FetchError): boolean => {
  switch (error._tag) {
    case "ConnectFailed":
    case "ConnectionLost":
      return true
    case "HttpStatus":
      return error.status >= 500 || error.status === 429 || error.status === 408
    default:
      return false
  }
}

/**
 * Whether this failure counts against the host's health (circuit breaker and
 * throttle): the server or the network misbehaved, not our policy.
 *
 * @example
 * ```ts
 * import { FetchError } from "@trawl/fetch"
 * FetchError.isHostFailure(new FetchError.ConnectFailed({ url: "http://a.test/", code: "ECONNREFUSED", reason: "refused" })) // true
 * ```
 * @since 0.1.0
 */
export const isHostFailure = (error: FetchError): boolean => {
  switch (error._tag) {
    case "Timeout":
    case "ConnectFailed":
    case "ConnectionLost":
      return true
    case "HttpStatus":
      return error.status >= 500
    default:
      return false
  }
}
