/**
 * A competitor group's offers compared: each member's last decided price in
 * one currency (the rates' base, or, without rates, the currency most of the
 * group's offers are in), and the best in-stock offer. Pure: the writer runs
 * it in the recording transaction (`cheapest_changed`, group rules), the
 * group view (`Store.group`) on the members as they are.
 */
import type * as Model from "../Model.ts"
import * as Rates from "../Rates.ts"
import * as Decimal from "./decimal.ts"

export interface Member {
  readonly id: number
  readonly url: string
  readonly amount: string | null
  readonly currency: string | null
  readonly availability: Model.Availability
}

export interface Comparison {
  /** The currency offers are compared in; null when no member has a price. */
  readonly currency: string | null
  /** The rates' date, when rates were used. */
  readonly ratesDate: string | null
  /** Each member's price in `currency` (null: no price, or one that cannot be compared). */
  readonly inCurrency: ReadonlyMap<number, string | null>
  /** The lowest in-stock offer (ties: the older target). */
  readonly best: Member | null
}

/** "92.000000" → "92.00": at least two places, no trailing zeros beyond them. */
export const tidy = (amount: string): string => {
  const dot = amount.indexOf(".")
  if (dot === -1) return `${amount}.00`
  let end = amount.length
  while (end > dot + 3 && amount[end - 1] === "0") end--
  return amount.slice(0, end).padEnd(dot + 3, "0")
}

const usualCurrency = (members: ReadonlyArray<Member>): string | null => {
  const counts = new Map<string, number>()
  for (const member of members) {
    if (member.amount !== null && member.currency !== null) counts.set(member.currency, (counts.get(member.currency) ?? 0) + 1)
  }
  let chosen: string | null = null
  for (const [currency, count] of counts) {
    if (chosen === null || count > counts.get(chosen)! || (count === counts.get(chosen)! && currency < chosen)) chosen = currency
  }
  return chosen
}

export const compare = (members: ReadonlyArray<Member>, rates: Rates.Rates | undefined): Comparison => {
  const currency = rates?.base ?? usualCurrency(members)
  const inCurrency = new Map<number, string | null>()
  let best: Member | null = null
  let bestAmount: string | null = null
  for (const member of [...members].sort((a, b) => a.id - b.id)) {
    let amount: string | null = null
    if (member.amount !== null && member.currency !== null && currency !== null) {
      amount = rates !== undefined
        ? (Rates.toBase(rates, member.amount, member.currency) ?? null)
        : member.currency === currency
        ? member.amount
        : null
    }
    inCurrency.set(member.id, amount === null ? null : tidy(amount))
    if (amount !== null && member.availability === "in_stock" && (bestAmount === null || Decimal.compare(amount, bestAmount) < 0)) {
      best = member
      bestAmount = amount
    }
  }
  return { currency, ratesDate: rates?.date ?? null, inCurrency, best }
}
