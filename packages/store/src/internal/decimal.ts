/**
 * Exact decimal arithmetic on plain decimal strings, through bigint: prices
 * are compared and percentages computed without ever touching a float.
 */

interface Scaled {
  readonly units: bigint
  readonly scale: number
}

const parse = (decimal: string): Scaled => {
  const dot = decimal.indexOf(".")
  if (dot === -1) return { units: BigInt(decimal), scale: 0 }
  const fraction = decimal.slice(dot + 1)
  return { units: BigInt(decimal.slice(0, dot) + fraction), scale: fraction.length }
}

const align = (a: Scaled, b: Scaled): readonly [bigint, bigint, number] => {
  const scale = Math.max(a.scale, b.scale)
  return [a.units * 10n ** BigInt(scale - a.scale), b.units * 10n ** BigInt(scale - b.scale), scale]
}

const plain = /^(?:0|[1-9]\d*)(?:\.\d+)?$/

/** -1, 0 or 1 as `a` is below, equal to or above `b` (`"1.50"` equals `"1.5"`). */
export const compare = (a: string, b: string): -1 | 0 | 1 => {
  // prices as stored ("19.99" beside "100.00"): digits compare as text once the
  // integer parts are as long and the fractions too; no bigint on the hot path
  const dotA = a.indexOf(".")
  const dotB = b.indexOf(".")
  if (dotA === dotB && a.length === b.length && plain.test(a) && plain.test(b)) return a < b ? -1 : a > b ? 1 : 0
  const [x, y] = align(parse(a), parse(b))
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * `(to - from) / from × 100`, rounded half away from zero to `places`
 * fraction digits, as a signed decimal string; undefined when `from` is zero.
 */
export const percentChange = (from: string, to: string, places = 2): string | undefined => {
  const [x, y] = align(parse(from), parse(to))
  if (x === 0n) return undefined
  const factor = 100n * 10n ** BigInt(places)
  const numerator = (y - x) * factor
  const negative = numerator < 0n
  const magnitude = negative ? -numerator : numerator
  let quotient = magnitude / x
  if ((magnitude % x) * 2n >= x) quotient += 1n
  const digits = quotient.toString().padStart(places + 1, "0")
  const body = places === 0 ? digits : `${digits.slice(0, -places)}.${digits.slice(-places)}`
  return negative && quotient !== 0n ? `-${body}` : body
}

/**
 * Compares the exact change from `from` to `to`, in percent, with `percent`
 * (signed): -1, 0 or 1 as `(to - from) / from × 100` is below, equal to or
 * above it. `from` must be positive. No rounding: a 9.996 % drop is not 10 %.
 */
export const comparePercent = (from: string, to: string, percent: string): -1 | 0 | 1 => {
  const [x, y] = align(parse(from), parse(to))
  const p = parse(percent)
  // (y - x) × 100 × 10^p.scale  vs  p.units × x   (both at the prices' scale)
  const left = (y - x) * 100n * 10n ** BigInt(p.scale)
  const right = p.units * x
  return left < right ? -1 : left > right ? 1 : 0
}

/** `a × b`, exact (the scales add up), as a decimal string. */
export const multiply = (a: string, b: string): string => {
  const x = parse(a)
  const y = parse(b)
  const units = x.units * y.units
  const scale = x.scale + y.scale
  const negative = units < 0n
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0")
  const body = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
  return negative ? `-${body}` : body
}
