/**
 * Deterministic, stateless randomness: every random choice of the simulated
 * web is a hash of the seed and the coordinates of the thing being decided
 * (shop, product, step, request number), so any part of the world can be
 * computed on its own, in any order, in O(1).
 */

/** murmur3's 32-bit finalizer: a good avalanche for cheap. */
const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A uint32 hash of a seed and integer coordinates. */
export const hash = (seed: number, ...parts: ReadonlyArray<number>): number => {
  let h = fmix((seed ^ 0x9e3779b9) >>> 0)
  for (let i = 0; i < parts.length; i++) {
    h = fmix((h ^ Math.imul((parts[i]! | 0) ^ (i + 1) * 0x27d4eb2f, 0x9e3779b1)) >>> 0)
  }
  return h
}

/** A number in [0, 1) from a seed and integer coordinates. */
export const unit = (seed: number, ...parts: ReadonlyArray<number>): number => hash(seed, ...parts) / 4294967296

/** An integer in [0, n) from a seed and integer coordinates. */
export const below = (n: number, seed: number, ...parts: ReadonlyArray<number>): number =>
  Math.floor(unit(seed, ...parts) * n)

/** A standard normal variate (Box–Muller) from a seed and integer coordinates. */
export const normal = (seed: number, ...parts: ReadonlyArray<number>): number => {
  const u1 = Math.max(unit(seed, ...parts, 1), 1e-12)
  const u2 = unit(seed, ...parts, 2)
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}

/** FNV-1a of a string, for turning names into hash coordinates. */
export const ofString = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** Purposes, so that two decisions about the same thing never share a hash. */
export const Purpose = {
  shopHostile: 1,
  shopHostileKind: 2,
  shopCurrency: 3,
  shopCharset: 4,
  shopLatency: 5,
  shopErrorRate: 6,
  shopRobots: 7,
  shopCrawlDelay: 8,
  shopPlatform: 9,
  productBase: 20,
  productVolatile: 21,
  productPeriod: 22,
  productPhase: 23,
  productStyle: 24,
  productSize: 25,
  productName: 26,
  productOffset: 27,
  productStock: 28,
  productOutlet: 29,
  productSale: 30,
  productAlwaysOut: 31,
  requestLatency: 40,
  requestError: 41,
  requestErrorKind: 42,
  filler: 50
} as const
