/**
 * Alert rules evaluated reading by reading: from a target's rule states and
 * one reading, the alerts it raises and the next states. Pure and
 * serialisable (the states are JSON in `targets.rule_state`), so the writer
 * runs it inside the transaction that records the reading: a crash between
 * two readings loses or repeats nothing, and a replayed batch (already
 * recorded) raises nothing again.
 *
 * Each rule keeps one small state, keyed by its canonical text, so editing a
 * target's rules keeps the states of the rules it still has.
 */
import * as AlertRule from "../AlertRule.ts"
import type * as Model from "../Model.ts"
import * as Decimal from "./decimal.ts"
import type * as Detect from "./detect.ts"

/** One rule's state. Short keys: it is stored once per target and rule. */
export interface RuleState {
  /** The rule's accepted truth (thresholds and stock rules). */
  readonly on: boolean
  /** Readings in a row that disagree with what is accepted (`confirm`). */
  readonly n: number
  /** Reference price: `drop`/`rise` the reading last alerted on (or the first); `change` the accepted price. */
  readonly ref: string | null
  readonly cur: string | null
  /** `change`: the new price being confirmed (`amount currency`). */
  readonly cand: string | null
  /** When this rule last raised an alert (`cooldown`). */
  readonly at: number | null
}

/** A target's rule states, by canonical rule text. */
export type States = Readonly<Record<string, RuleState>>

/** How a target alerts. */
export interface Policy {
  readonly rules: ReadonlyArray<AlertRule.Rule>
  readonly confirm: number
  readonly cooldownMillis: number
  readonly mutedUntil: number | null
}

/** One reading: a price (or none) and an availability, at a time. */
export interface Reading {
  readonly observedAt: number
  readonly amount: string | null
  readonly currency: string | null
  readonly availability: Model.Availability
}

/** An alert a rule raised: `Detect`'s shape (no failure streak), and the rule's canonical text. */
export interface Fired extends Omit<Detect.DetectedAlert, "failureStreak"> {
  readonly rule: string
}

const fresh: RuleState = { on: false, n: 0, ref: null, cur: null, cand: null, at: null }

/**
 * Reads `targets.rule_state`; anything unreadable starts afresh (a state is
 * never worth failing a write for). Fields left out are at their defaults.
 */
export const decodeStates = (json: string | null): States => {
  if (json === null || json === "") return {}
  try {
    const value = JSON.parse(json)
    if (typeof value !== "object" || value === null || Array.isArray(value)) return {}
    const states: Record<string, RuleState> = {}
    for (const key in value) states[key] = { ...fresh, ...value[key] }
    return states
  } catch {
    return {}
  }
}

/** Only the fields off their defaults: the state is rewritten with every reading. */
export const encodeStates = (states: States): string => {
  const out: Record<string, Partial<RuleState>> = {}
  for (const key in states) {
    const state = states[key]!
    const compact: { -readonly [K in keyof RuleState]?: RuleState[K] } = {}
    if (state.on) compact.on = true
    if (state.n !== 0) compact.n = state.n
    if (state.ref !== null) compact.ref = state.ref
    if (state.cur !== null) compact.cur = state.cur
    if (state.cand !== null) compact.cand = state.cand
    if (state.at !== null) compact.at = state.at
    out[key] = compact
  }
  return JSON.stringify(out)
}

/** A rule's next state (undefined: nothing known yet) and what it fires, if anything. */
type Step = { readonly state: RuleState | undefined; readonly fire?: Omit<Fired, "rule"> | undefined }

/**
 * A boolean condition through `confirm`: the accepted truth flips after
 * `confirm` readings in a row say otherwise; firing when it flips to true.
 * `undefined` (the reading cannot say: no price, another currency, stock
 * unknown) leaves the state as it is.
 */
const edge = (state: RuleState, condition: boolean | undefined, confirm: number): { state: RuleState; rose: boolean } => {
  if (condition === undefined) return { state, rose: false }
  if (condition === state.on) return { state: state.n === 0 ? state : { ...state, n: 0 }, rose: false }
  const n = state.n + 1
  if (n < confirm) return { state: { ...state, n }, rose: false }
  return { state: { ...state, on: condition, n: 0 }, rose: condition }
}

const stepRule = (rule: AlertRule.Rule, previous: RuleState | undefined, reading: Reading, last: Reading | null, confirm: number): Step => {
  const priced = reading.amount !== null && reading.currency !== null
  switch (rule._tag) {
    case "Below":
    case "Above": {
      const state = previous ?? fresh
      const comparable = priced && (rule.currency === null || rule.currency === reading.currency)
      const order = comparable ? Decimal.compare(reading.amount!, rule.amount) : 0
      const { rose, state: next } = edge(state, comparable ? (rule._tag === "Below" ? order < 0 : order > 0) : undefined, confirm)
      return {
        state: next,
        fire: rose
          ? {
            kind: rule._tag === "Below" ? "price_below" : "price_above",
            oldAmount: last?.amount ?? null,
            oldCurrency: last?.currency ?? null,
            newAmount: reading.amount,
            newCurrency: reading.currency,
            percent: last?.amount != null && last.currency === reading.currency
              ? Decimal.percentChange(last.amount, reading.amount!) ?? null
              : null
          }
          : undefined
      }
    }
    case "Drop":
    case "Rise": {
      if (!priced) return { state: previous ?? fresh }
      const state = previous ?? fresh
      // the first reading, or a new currency, is the reference: nothing to compare it with
      if (state.ref === null || state.cur !== reading.currency || Decimal.compare(state.ref, "0") === 0) {
        return { state: { ...state, ref: reading.amount, cur: reading.currency, n: 0 } }
      }
      const order = Decimal.comparePercent(state.ref, reading.amount!, rule._tag === "Drop" ? `-${rule.percent}` : rule.percent)
      const moved = rule._tag === "Drop" ? order <= 0 : order >= 0
      if (!moved) return { state: state.n === 0 ? state : { ...state, n: 0 } }
      const n = state.n + 1
      if (n < confirm) return { state: { ...state, n } }
      return {
        state: { ...state, ref: reading.amount, cur: reading.currency, n: 0 },
        fire: {
          kind: rule._tag === "Drop" ? "price_drop" : "price_rise",
          oldAmount: state.ref,
          oldCurrency: state.cur,
          newAmount: reading.amount,
          newCurrency: reading.currency,
          percent: Decimal.percentChange(state.ref, reading.amount!) ?? null
        }
      }
    }
    case "Change": {
      if (!priced) return { state: previous ?? fresh }
      const state = previous ?? fresh
      if (state.ref === null) return { state: { ...state, ref: reading.amount, cur: reading.currency, n: 0, cand: null } }
      if (state.cur === reading.currency && Decimal.compare(state.ref, reading.amount!) === 0) {
        return { state: state.n === 0 && state.cand === null ? state : { ...state, n: 0, cand: null } }
      }
      const candidate = `${reading.amount} ${reading.currency}`
      const n = state.cand === candidate ? state.n + 1 : 1
      if (n < confirm) return { state: { ...state, n, cand: candidate } }
      const sameCurrency = state.cur === reading.currency
      const order = sameCurrency ? Decimal.compare(reading.amount!, state.ref) : 0
      return {
        state: { ...state, ref: reading.amount, cur: reading.currency, n: 0, cand: null },
        fire: {
          kind: !sameCurrency ? "currency_changed" : order > 0 ? "price_up" : "price_down",
          oldAmount: state.ref,
          oldCurrency: state.cur,
          newAmount: reading.amount,
          newCurrency: reading.currency,
          percent: sameCurrency ? Decimal.percentChange(state.ref, reading.amount!) ?? null : null
        }
      }
    }
    case "BackInStock":
    case "OutOfStock": {
      const condition = reading.availability === "unknown"
        ? undefined
        : reading.availability === (rule._tag === "BackInStock" ? "in_stock" : "out_of_stock")
      // the first reading that knows is where the product stands, not a change
      if (previous === undefined) return { state: condition === undefined ? undefined : { ...fresh, on: condition } }
      const { rose, state } = edge(previous, condition, confirm)
      return {
        state,
        fire: rose
          ? {
            kind: rule._tag === "BackInStock" ? "back_in_stock" : "out_of_stock",
            oldAmount: last?.amount ?? null,
            oldCurrency: last?.currency ?? null,
            newAmount: reading.amount,
            newCurrency: reading.currency,
            percent: null
          }
          : undefined
      }
    }
  }
}

/**
 * One reading through every rule of a policy. `last` is the target's
 * previous reading (for the alerts' old price). A rule that fires inside its
 * cooldown, or while the target is muted, is consumed without an alert: its
 * state moves on as if it had fired.
 */
export const evaluate = (
  policy: Policy,
  states: States,
  reading: Reading,
  last: Reading | null
): { readonly fired: ReadonlyArray<Fired>; readonly states: States; readonly changed: boolean } => {
  const next: Record<string, RuleState> = {}
  const fired: Array<Fired> = []
  let changed = false
  const muted = policy.mutedUntil !== null && reading.observedAt < policy.mutedUntil
  for (const rule of policy.rules) {
    const key = AlertRule.format(rule)
    const step = stepRule(rule, states[key], reading, last, Math.max(1, policy.confirm))
    let state = step.state
    if (state === undefined) continue
    if (step.fire !== undefined) {
      const cooling = state.at !== null && policy.cooldownMillis > 0 && reading.observedAt - state.at < policy.cooldownMillis
      if (!muted && !cooling) {
        fired.push({ rule: key, ...step.fire })
        state = { ...state, at: reading.observedAt }
      }
    }
    if (state !== states[key]) changed = true
    next[key] = state
  }
  // a rule dropped from the list leaves its state behind: that is a change too
  if (!changed) for (const key in states) if (!(key in next)) changed = true
  return { fired, states: changed ? next : states, changed }
}
