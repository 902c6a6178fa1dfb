/**
 * The human price-string parser behind `Price.parsePrice`. The separator rules
 * are documented on `parsePrice`; this file implements them.
 */
import { exponentOf, isIsoCode, SYMBOLS } from "./currency.ts"

/** Longer texts are cut: a price label is short, and the cut bounds the work. */
export const MAX_TEXT = 4096
const MAX_INTEGER_DIGITS = 15
const MAX_FRACTION_DIGITS = 8
const ARABIC_DECIMAL = "\u066b"

export interface NumberToken {
  readonly start: number
  readonly end: number
  /** Digit runs, in order. */
  readonly runs: ReadonlyArray<string>
  /** Separator before each run after the first (`.`, `,`, `'`, ` `, or the Arabic decimal sign). */
  readonly seps: ReadonlyArray<string>
  /** `12,-` style: an integer amount with an explicit "no cents" tail. */
  readonly dashTail: boolean
}

export interface Marker {
  readonly codes: ReadonlyArray<string>
  readonly kind: "symbol" | "code"
  /** Characters between the marker and the number (0 = touching). */
  readonly gap: number
  readonly start: number
  readonly end: number
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57

const DIGIT_BLOCKS: ReadonlyArray<number> = [0x0660, 0x06f0, 0x0966, 0x09e6]

/** NFKC, bidi marks out, non-ASCII digits to ASCII, Arabic group sign to `'`. */
export const normalizeText = (text: string): string => {
  let s = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text
  s = s.normalize("NFKC").replace(/[\u200b-\u200f\u061c\u2060\ufeff]/g, "")
  if (/[\u0660-\u066c\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef]/.test(s)) {
    let out = ""
    for (const ch of s) {
      const cp = ch.codePointAt(0)!
      const block = DIGIT_BLOCKS.find((b) => cp >= b && cp <= b + 9)
      if (block !== undefined) out += String.fromCharCode(48 + cp - block)
      else if (cp === 0x066c) out += "'"
      else out += ch
    }
    s = out
  }
  return s.replace(/[\u2018\u2019\u02bc\u2032]/g, "'").replace(/\s/g, " ")
}

const runAt = (s: string, from: number): number => {
  let j = from
  while (j < s.length && isDigit(s.charCodeAt(j))) j++
  return j - from
}

/** Every number in the text, with its separators kept for interpretation. */
export const scanNumbers = (s: string): Array<NumberToken> => {
  const tokens: Array<NumberToken> = []
  let i = 0
  while (i < s.length) {
    if (!isDigit(s.charCodeAt(i))) {
      i++
      continue
    }
    const start = i
    const runs: Array<string> = []
    const seps: Array<string> = []
    let len = runAt(s, i)
    runs.push(s.slice(i, i + len))
    i += len
    for (;;) {
      const sep = s[i]
      if (sep === undefined || !isDigit(s.charCodeAt(i + 1))) break
      const next = runAt(s, i + 1)
      if (sep === " ") {
        // a space groups thousands only between a short run and exactly three digits
        if (runs[runs.length - 1]!.length > 3 || next !== 3) break
      } else if (sep !== "." && sep !== "," && sep !== "'" && sep !== ARABIC_DECIMAL) break
      seps.push(sep)
      runs.push(s.slice(i + 1, i + 1 + next))
      i += 1 + next
      len = next
    }
    let dashTail = false
    if ((s[i] === "," || s[i] === ".") && /^[-\u2013\u2014]/.test(s.slice(i + 1, i + 2))) {
      dashTail = true
      i += 2
      while (s[i] === "-" || s[i] === "\u2013" || s[i] === "\u2014") i++
    }
    tokens.push({ start, end: i, runs, seps, dashTail })
  }
  return tokens
}

const validGroups = (runs: ReadonlyArray<string>): boolean => {
  if (runs.length <= 1) return true
  const first = runs[0]!.length
  const last = runs[runs.length - 1]!.length
  if (last !== 3 || first < 1 || first > 3) return false
  const middle = runs.slice(1, -1)
  if (middle.every((r) => r.length === 3)) return true
  // Indian grouping: 1,23,45,678 — pairs, then a final triple
  return first <= 2 && middle.every((r) => r.length === 2)
}

/**
 * A number token as an exact decimal string (`"1234.56"`), or undefined when
 * its separators cannot be read as a price. `exponent` is the currency's
 * minor-unit exponent when known (a lone separator before three digits is a
 * decimal point only for three-decimal currencies).
 */
export const interpretNumber = (token: NumberToken, exponent: number | undefined, decimalHint?: string): string | undefined => {
  const { runs, seps } = token
  let decimalAt = -1
  const last = seps.length - 1
  if (seps.includes(ARABIC_DECIMAL)) {
    if (seps.indexOf(ARABIC_DECIMAL) !== last) return undefined
    decimalAt = last
  } else if (seps.includes(".") && seps.includes(",")) {
    const lastSep = seps[last]!
    if (lastSep !== "." && lastSep !== ",") return undefined
    if (seps.filter((c) => c === lastSep).length !== 1) return undefined
    decimalAt = last
  } else {
    const kind = seps.find((c) => c === "." || c === ",")
    if (kind !== undefined) {
      const count = seps.filter((c) => c === kind).length
      if (count === 1 && seps[last] === kind) {
        const fraction = runs[runs.length - 1]!.length
        const integerIsZero = /^0+$/.test(runs.slice(0, -1).join(""))
        if (decimalHint !== undefined) {
          decimalAt = kind === decimalHint || fraction !== 3 ? last : -1
        } else if (fraction !== 3 || integerIsZero || exponent === 3) {
          decimalAt = last
        }
      }
    }
  }
  const integerRuns = decimalAt === -1 ? runs : runs.slice(0, decimalAt + 1)
  const fraction = decimalAt === -1 ? "" : runs[decimalAt + 1]!
  if (!validGroups(integerRuns)) return undefined
  if (token.dashTail && fraction !== "") return undefined
  const integer = integerRuns.join("").replace(/^0+(?=\d)/, "")
  if (integer.length > MAX_INTEGER_DIGITS || fraction.length > MAX_FRACTION_DIGITS) return undefined
  return fraction === "" ? integer : `${integer}.${fraction}`
}

const SYMBOLS_BY_LENGTH = [...SYMBOLS].sort((a, b) => b[0].length - a[0].length)
const isLetter = (ch: string | undefined): boolean => ch !== undefined && /\p{L}/u.test(ch)

/** The currency marker written just before `[from, to)` ends, if any. */
export const markerBefore = (s: string, from: number, to: number): Marker | undefined => {
  const window = s.slice(Math.max(from, to - 12), to)
  const trimmed = window.trimEnd()
  const gap = window.length - trimmed.length
  if (gap > 2) return undefined
  const end = to - gap
  const code = /(?:^|[^A-Za-z])([A-Z]{3})$/.exec(trimmed)
  if (code !== null && isIsoCode(code[1]!)) return { codes: [code[1]!], kind: "code", gap, start: end - 3, end }
  for (const [symbol, codes, adjacent] of SYMBOLS_BY_LENGTH) {
    if (!trimmed.endsWith(symbol)) continue
    if (adjacent === true && gap > 1) continue
    if (isLetter(symbol[0]) && isLetter(trimmed[trimmed.length - symbol.length - 1])) continue
    return { codes, kind: "symbol", gap, start: end - symbol.length, end }
  }
  return undefined
}

/** The currency marker written just after `from`, before `to`, if any. */
export const markerAfter = (s: string, from: number, to: number): Marker | undefined => {
  const window = s.slice(from, Math.min(to, from + 12))
  const trimmed = window.trimStart()
  const gap = window.length - trimmed.length
  if (gap > 2) return undefined
  const start = from + gap
  const code = /^([A-Z]{3})(?![A-Za-z])/.exec(trimmed)
  if (code !== null && isIsoCode(code[1]!)) return { codes: [code[1]!], kind: "code", gap, start, end: start + 3 }
  for (const [symbol, codes, adjacent] of SYMBOLS_BY_LENGTH) {
    if (!trimmed.startsWith(symbol)) continue
    if (adjacent === true && gap > 1) continue
    if (isLetter(symbol[symbol.length - 1]) && isLetter(trimmed[symbol.length])) continue
    return { codes, kind: "symbol", gap, start, end: start + symbol.length }
  }
  return undefined
}

export { exponentOf }
