/**
 * When two readings of a page state the same offer, though their prices differ
 * on the surface: the sale price beside its regular price, a price inside a
 * low–high range. Only readings that are not consistent disagree.
 */
import * as Price from "../Price.ts"

interface Priced {
  readonly price?: Price.Price | undefined
  readonly high?: Price.Price | undefined
  readonly regular?: Price.Price | undefined
}

const within = (price: Price.Price, low: Price.Price, high: Price.Price | undefined): boolean =>
  high !== undefined && Price.compare(low, price) <= 0 && Price.compare(price, high) <= 0

/** Whether `a` and `b` can both be true of one offer (true when either has no price). */
export const consistent = (a: Priced, b: Priced): boolean => {
  if (a.price === undefined || b.price === undefined) return true
  if (Price.equals(a.price, b.price)) return true
  // one source shows the sale, the other the regular price it replaces
  if (a.regular !== undefined && Price.equals(a.regular, b.price)) return true
  if (b.regular !== undefined && Price.equals(b.regular, a.price)) return true
  // one source gives the range (AggregateOffer, variants), the other one price in it
  return within(b.price, a.price, a.high) || within(a.price, b.price, b.high)
}

/** Whether every pair of `readings` is consistent. */
export const allConsistent = (readings: ReadonlyArray<Priced>): boolean => {
  for (let i = 0; i < readings.length; i++) {
    for (let j = i + 1; j < readings.length; j++) if (!consistent(readings[i]!, readings[j]!)) return false
  }
  return true
}
