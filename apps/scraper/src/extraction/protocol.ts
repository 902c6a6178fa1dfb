/**
 * The typed protocol between the app and its extraction workers: one
 * procedure, `ExtractPage`, page bytes in (transferred, not copied), a
 * `Product` or a typed error out — an `ExtractError`, or, for a page sent as
 * received (`decode`), why it could not be decoded (the fetcher's
 * `DecompressionBomb`, `BadContentEncoding`, `BadCharset`, as plain tagged
 * structs: the main thread rebuilds the `FetchError`s, `Extractor.ts`).
 *
 * @internal
 */
import { ExtractError, Product, Rules } from "@trawl/extract"
import type * as Decode from "@trawl/fetch/Decode"
import { WorkerProtocol } from "@trawl/worker"
import * as Schema from "effect/Schema"
import * as Transferable from "effect/workers/Transferable"

/** How to decode a body sent as received (`Decode.Input` but the body and URL). */
export const Encoded = Schema.Struct({
  contentEncoding: Schema.optional(Schema.String),
  contentType: Schema.optional(Schema.String),
  maxDecompressedBytes: Schema.Number
})

export class ExtractPage extends Schema.TaggedClass<ExtractPage>()("ExtractPage", {
  url: Schema.String,
  body: Transferable.Uint8Array,
  /** The body's charset; ignored (chosen by decoding) when `decode` is given. */
  charset: Schema.String,
  rules: Schema.optional(Rules.Rules),
  /** The body is as received: the worker decodes it (`@trawl/fetch/Decode`) before extracting. */
  decode: Schema.optional(Encoded)
}) {}

export const DecompressionBomb = Schema.TaggedStruct("DecompressionBomb", {
  url: Schema.String,
  encoding: Schema.String,
  limit: Schema.Number
})
export const BadContentEncoding = Schema.TaggedStruct("BadContentEncoding", {
  url: Schema.String,
  encoding: Schema.String,
  reason: Schema.String
})
export const BadCharset = Schema.TaggedStruct("BadCharset", { url: Schema.String, charset: Schema.String })

/** A decoding failure as it crosses the thread boundary. */
export type DecodeFailed =
  | typeof DecompressionBomb.Type
  | typeof BadContentEncoding.Type
  | typeof BadCharset.Type

/** A `Decode` error's fields, for the wire. */
export const toWire = (error: Decode.DecodeError): DecodeFailed => {
  switch (error._tag) {
    case "DecompressionBomb":
      return { _tag: error._tag, url: error.url, encoding: error.encoding, limit: error.limit }
    case "BadContentEncoding":
      return { _tag: error._tag, url: error.url, encoding: error.encoding, reason: error.reason }
    case "BadCharset":
      return { _tag: error._tag, url: error.url, charset: error.charset }
  }
}

export const Protocol = WorkerProtocol.make({
  ExtractPage: {
    request: ExtractPage,
    success: Product.Product,
    error: Schema.Union([ExtractError.ExtractError, DecompressionBomb, BadContentEncoding, BadCharset])
  }
})
