/**
 * Decompression of response bodies with an output cap. Imports nothing but
 * node:zlib and `FetchError` (no undici), so `Decode` can run it in a worker
 * thread without loading the HTTP client.
 *
 * @internal
 */
import * as Zlib from "node:zlib"
import * as FetchError from "../FetchError.ts"

type Decoder = (input: Uint8Array, options: Zlib.ZlibOptions | Zlib.BrotliOptions) => Buffer

const decoders: Record<string, Decoder | undefined> = {
  gzip: Zlib.gunzipSync,
  "x-gzip": Zlib.gunzipSync,
  br: Zlib.brotliDecompressSync,
  zstd: Zlib.zstdDecompressSync as Decoder,
  deflate: (input, options) => {
    // "deflate" is meant to be zlib-wrapped, but servers send raw deflate too.
    const wrapped = input.length >= 2 && (input[0]! & 0x0f) === 8 && ((input[0]! << 8) | input[1]!) % 31 === 0
    return (wrapped ? Zlib.inflateSync : Zlib.inflateRawSync)(input, options)
  }
}

/**
 * The decoders' output chunk, sized so a page inflates into one chunk, then moved into a
 * buffer of its size (`exact`): gzip states the inflated size in its last 4 bytes (a hint
 * only — a wrong one costs extra chunks, never wrong output), other encodings get 8× the
 * compressed size. Node's default 16 KB chunks (or one fixed large chunk, then a copy)
 * left 2–3 dropped buffers per page outside the V8 heap, and that external garbage forced a
 * full GC every few hundred pages; decompressing synchronously costs ~50 µs a sim-web page
 * instead of ~230 µs through the threadpool.
 */
const outputChunk = (input: Uint8Array, encoding: string, limit: number): number => {
  const hint = (encoding === "gzip" || encoding === "x-gzip") && input.length >= 18
    ? (input[input.length - 4]! | (input[input.length - 3]! << 8) | (input[input.length - 2]! << 16)) +
      input[input.length - 1]! * 2 ** 24 + 1
    : input.length * 8
  // zlib's bounds; and the first chunk is allocated before a byte is inflated, so a lying
  // header must not make it large
  return Math.max(64, Math.min(hint, limit + 1, maxFirstChunk))
}
const maxFirstChunk = 4 * 1024 * 1024

/**
 * Undoes `Content-Encoding` (possibly several, applied in order), each step
 * capped at `limit` output bytes (zlib stops as soon as the cap is passed, so
 * a bomb never occupies more than the cap — nor takes longer than inflating
 * the cap, a few milliseconds of this thread).
 */
export const decompress = (
  body: Uint8Array,
  contentEncoding: string | undefined,
  url: string,
  limit: number
): Uint8Array | FetchError.DecompressionBomb | FetchError.BadContentEncoding => {
  if (contentEncoding === undefined || body.byteLength === 0) return body
  const encodings = contentEncoding.split(",").map((part) => part.trim().toLowerCase()).filter((part) =>
    part !== "" && part !== "identity"
  )
  let output = body
  for (const encoding of encodings.reverse()) {
    const decoder = decoders[encoding]
    if (decoder === undefined) {
      return new FetchError.BadContentEncoding({ url, encoding, reason: "unsupported encoding" })
    }
    try {
      output = exact(decoder(output, { maxOutputLength: limit, chunkSize: outputChunk(output, encoding, limit) }))
    } catch (error) {
      return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError
        ? new FetchError.DecompressionBomb({ url, encoding, limit })
        : new FetchError.BadContentEncoding({ url, encoding, reason: (error as Error).message })
    }
  }
  return output
}

/**
 * The output as a Uint8Array that owns exactly its bytes (the extractor transfers it to a
 * worker whole): a view at the start of a larger chunk is moved into a buffer of its size
 * (`transfer`: one copy, and the chunk is freed at once instead of by a GC); small outputs
 * live in Node's shared pool slab and are copied out of it.
 */
const exact = (buffer: Buffer): Uint8Array => {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return new Uint8Array(buffer.buffer)
  if (buffer.byteOffset === 0 && buffer.buffer.byteLength > Buffer.poolSize && buffer.buffer instanceof ArrayBuffer) {
    return new Uint8Array(buffer.buffer.transfer(buffer.byteLength))
  }
  return new Uint8Array(buffer)
}
