/**
 * What `Fetcher.fetchPage` takes and returns: a `FetchRequest` in, a `Page`
 * out. Both are `effect/Schema` classes so they can cross a worker or process
 * boundary.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Charset from "./Charset.ts"

/**
 * Cache validators from a previous fetch: sent back as `If-None-Match` and
 * `If-Modified-Since` so an unchanged page costs a 304 and no parsing.
 *
 * @example
 * ```ts
 * import { Page } from "@trawl/fetch"
 * const validators = new Page.Validators({ etag: "\"v1\"", lastModified: "Tue, 24 Nov 2026 08:00:00 GMT" })
 * ```
 * @since 0.1.0
 */
export class Validators extends Schema.Class<Validators>("@trawl/fetch/Validators")({
  etag: Schema.optional(Schema.String),
  lastModified: Schema.optional(Schema.String)
}) {}

/**
 * One page to fetch.
 *
 * @example
 * ```ts
 * import { Page } from "@trawl/fetch"
 * const request = new Page.FetchRequest({ url: "https://shop.example/p/1" })
 * ```
 * @since 0.1.0
 */
export class FetchRequest extends Schema.Class<FetchRequest>("@trawl/fetch/FetchRequest")({
  url: Schema.String,
  /** Validators of the previous fetch, for a conditional GET. */
  validators: Schema.optional(Validators),
  /** Extra request headers (lower-case names win over nothing; ours win over these). */
  headers: Schema.optional(Schema.Record(Schema.String, Schema.String))
}) {}

/**
 * One hop of a redirect chain: the URL that answered with a redirect, and its status.
 *
 * @example
 * ```ts
 * import { Page } from "@trawl/fetch"
 * const hop = new Page.Redirect({ url: "http://a.test/old", status: 301 })
 * ```
 * @since 0.1.0
 */
export class Redirect extends Schema.Class<Redirect>("@trawl/fetch/Redirect")({
  url: Schema.String,
  status: Schema.Number
}) {}

/**
 * Where the time went, in milliseconds. `queued` is the time spent waiting
 * for host and global gates (politeness); `headers` is from sending the final
 * request to its response head; `total` is the whole `fetchPage` call.
 *
 * @example
 * ```ts
 * import { Page } from "@trawl/fetch"
 * const timings = new Page.Timings({ startedAt: 0, queuedMillis: 0, headersMillis: 3, totalMillis: 5, attempts: 1 })
 * ```
 * @since 0.1.0
 */
export class Timings extends Schema.Class<Timings>("@trawl/fetch/Timings")({
  /** Epoch milliseconds when `fetchPage` started. */
  startedAt: Schema.Number,
  queuedMillis: Schema.Number,
  headersMillis: Schema.Number,
  totalMillis: Schema.Number,
  /** Attempts of the final hop (1 = no retry). */
  attempts: Schema.Number
}) {}

/**
 * A fetched page. `body` holds the decoded (decompressed) bytes, `charset`
 * the charset that was sniffed and verified, and `text` decodes the body with
 * it on access (so a page that crosses to a worker as bytes never pays for a
 * string on the event loop). A 304 is a `Page` with `notModified: true` and an
 * empty body.
 *
 * @example
 * ```ts
 * import { Page } from "@trawl/fetch"
 * const page = new Page.Page({
 *   url: "http://a.test/", requestedUrl: "http://a.test/", status: 200, headers: {},
 *   body: new TextEncoder().encode("hi"), charset: "utf-8", notModified: false, redirects: [],
 *   validators: new Page.Validators({}),
 *   timings: new Page.Timings({ startedAt: 0, queuedMillis: 0, headersMillis: 1, totalMillis: 1, attempts: 1 })
 * })
 * page.text // "hi"
 * ```
 * @since 0.1.0
 */
export class Page extends Schema.Class<Page>("@trawl/fetch/Page")({
  /** The final URL, after redirects. */
  url: Schema.String,
  /** The URL that was asked for. */
  requestedUrl: Schema.String,
  status: Schema.Number,
  /** Response headers of the final response, lower-case names. */
  headers: Schema.Record(Schema.String, Schema.String),
  /**
   * The body after decompression — or, fetched with `decodeBody: false`, as
   * received (see `contentEncoding`). Empty for a 304. Its `ArrayBuffer` belongs
   * to this page alone — it may hold a little more than the body (the
   * response head, when the body came in the socket read that held it) —
   * so `body.buffer` can be transferred to another thread without a copy.
   */
  body: Schema.Uint8Array,
  /**
   * The WHATWG name of the charset the body is decoded with. Empty for a page
   * fetched with `decodeBody: false`: the charset is chosen when the body is
   * decoded (`Decode.decode`, which may need the decoded bytes' BOM or `<meta>`).
   */
  charset: Schema.String,
  /**
   * The response's `Content-Encoding` when `body` is still encoded as received
   * (a page fetched with `decodeBody: false`); undefined when the body is
   * decoded, or was sent without one. `Decode.decode` undoes it.
   */
  contentEncoding: Schema.optional(Schema.String),
  notModified: Schema.Boolean,
  /** Every redirect followed, in order. */
  redirects: Schema.Array(Redirect),
  /** Validators to send next time (from this response's `ETag`/`Last-Modified`). */
  validators: Validators,
  timings: Timings
}) {
  /**
   * The body decoded with `charset`. Decoding cannot fail: the charset was
   * verified when the page was fetched. (Not for a page fetched with
   * `decodeBody: false`: decode its body with `Decode.decode` first.)
   */
  get text(): string {
    return Charset.decode(this.body, this.charset)
  }
}

/**
 * Frees a fetched page's body now instead of at a later garbage collection:
 * its buffer is detached, and `page.body` (with every view of it) is empty
 * from then on. Bodies live outside the V8 heap, and V8 collects them only
 * after tens of megabytes of them have died, so a consumer that reads
 * thousands of pages a second and drops them keeps that much more memory;
 * releasing each page once it is done with it keeps only the pages in use.
 * Transferring `page.body.buffer` to a worker frees it the same way.
 *
 * @example
 * ```ts
 * import { Page } from "@trawl/fetch"
 * const page = new Page.Page({
 *   url: "http://a.test/", requestedUrl: "http://a.test/", status: 200, headers: {},
 *   body: new TextEncoder().encode("<p>9.99</p>"), charset: "utf-8", notModified: false, redirects: [],
 *   validators: new Page.Validators({}),
 *   timings: new Page.Timings({ startedAt: 0, queuedMillis: 0, headersMillis: 1, totalMillis: 1, attempts: 1 })
 * })
 * const price = page.text.match(/[0-9.]+/)?.[0]
 * Page.release(page)
 * page.body.byteLength // 0
 * ```
 * @since 0.1.0
 */
export const release = (page: Page): void => {
  const buffer = page.body.buffer
  if (buffer instanceof ArrayBuffer && !buffer.detached) buffer.transfer(0)
}
