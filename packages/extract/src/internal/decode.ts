/**
 * Byte pages to text, exactly as `TextDecoder` would, without its cost where
 * a cheaper copy gives the same string: most of a page's CPU on the fast path
 * was decoding it.
 */
import { isAscii } from "node:buffer"

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")

/** windows-1252's 0x80–0x9F (the only bytes where it differs from Latin-1), from the platform's own decoder. */
const CP1252_HIGH: ReadonlyArray<string> = Array.from(
  new TextDecoder("windows-1252").decode(Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i))
)

/**
 * The same string as `decoder.decode(bytes)`, cheaper for the common cases:
 * ASCII bytes (a UTF-8 or windows-1252 page) are copied as Latin-1, and
 * windows-1252 (which the Encoding Standard also uses for `iso-8859-1`) is
 * Latin-1 but for 0x80–0x9F.
 */
export const decode = (bytes: Uint8Array, decoder: InstanceType<typeof TextDecoder>): string => {
  const encoding = decoder.encoding
  if (encoding !== "utf-8" && encoding !== "windows-1252") return decoder.decode(bytes)
  if (isAscii(bytes)) return latin1(bytes)
  if (encoding === "utf-8") return decoder.decode(bytes)
  return latin1(bytes).replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!)
}
