/**
 * Encoding rendered pages into their declared charset. Characters a legacy
 * charset cannot hold become numeric character references, as real sites do.
 */
import type { Charset } from "../Truth.ts"

/** windows-1252's 0x80–0x9F block, for the characters our templates use. */
const cp1252: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80], // €
  [0x201a, 0x82],
  [0x2026, 0x85], // …
  [0x2018, 0x91],
  [0x2019, 0x92],
  [0x201c, 0x93],
  [0x201d, 0x94],
  [0x2022, 0x95], // •
  [0x2013, 0x96], // –
  [0x2014, 0x97] // —
])

/** The bytes of `text` in `charset`. */
export const encode = (text: string, charset: Charset | string): Buffer => {
  if (charset !== "windows-1252" && charset !== "iso-8859-1") return Buffer.from(text, "utf8")
  // Everything a Latin-1 byte cannot say (and the C1 block, which windows-1252 reuses) is rewritten first.
  // eslint-disable-next-line no-control-regex
  const latin = text.replace(/[^\u0000-\u007f\u00a0-\u00ff]/gu, (char) => {
    const code = char.codePointAt(0)!
    const byte = charset === "windows-1252" ? cp1252.get(code) : undefined
    return byte !== undefined ? String.fromCharCode(byte) : `&#${code};`
  })
  return Buffer.from(latin, "latin1")
}
