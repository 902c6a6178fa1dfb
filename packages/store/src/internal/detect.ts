/**
 * Change detection: from a target's last known state and one new
 * observation, the alerts it raises and the target's next state. Pure, so the
 * writer can run it inside the transaction that records the observation.
 */
import type * as Model from "../Model.ts"
import * as Decimal from "./decimal.ts"

export interface TargetState {
  readonly amount: string | null
  readonly currency: string | null
  readonly availability: Model.Availability
  readonly failureStreak: number
  /** Ambiguous readings in a row (outcome `ambiguous`). */
  readonly ambiguousStreak: number
  /** Time of the last successful reading; null before the first. */
  readonly lastObservedAt: number | null
}

export interface DetectedAlert {
  readonly kind: Model.AlertKind
  readonly oldAmount: string | null
  readonly oldCurrency: string | null
  readonly newAmount: string | null
  readonly newCurrency: string | null
  readonly percent: string | null
  readonly failureStreak: number
}

export interface Observed {
  readonly outcome: Model.Outcome
  readonly observedAt: number
  readonly amount: string | null
  readonly currency: string | null
  readonly availability: Model.Availability
}

const alert = (
  kind: Model.AlertKind,
  before: TargetState,
  after: Observed,
  percent: string | null = null
): DetectedAlert => ({
  kind,
  oldAmount: before.amount,
  oldCurrency: before.currency,
  newAmount: after.amount,
  newCurrency: after.currency,
  percent,
  failureStreak: 0
})

/** A streak reached its threshold: the last price known, none now. */
const streakEnded = (kind: Model.AlertKind, state: TargetState, failureStreak: number): DetectedAlert => ({
  kind,
  oldAmount: state.amount,
  oldCurrency: state.currency,
  newAmount: null,
  newCurrency: null,
  percent: null,
  failureStreak
})

/**
 * `brokenAfter`: the failure streak at which `extraction_broken` is raised
 * (once per streak: the next success resets it); `ambiguousAfter`: the
 * streak of ambiguous readings at which `price_ambiguous` is raised (once
 * per streak: the next decided reading resets it). An ambiguous reading
 * raises no price alert and keeps the last decided price.
 */
export const detect = (
  state: TargetState,
  observed: Observed,
  brokenAfter: number,
  ambiguousAfter: number
): { readonly alerts: ReadonlyArray<DetectedAlert>; readonly next: TargetState } => {
  switch (observed.outcome) {
    case "ambiguous": {
      const ambiguousStreak = state.ambiguousStreak + 1
      const alerts = ambiguousStreak === ambiguousAfter ? [streakEnded("price_ambiguous", state, 0)] : []
      return { alerts, next: { ...state, failureStreak: 0, ambiguousStreak } }
    }
    case "unchanged":
      return { alerts: [], next: state.failureStreak === 0 ? state : { ...state, failureStreak: 0 } }
    case "error": {
      const failureStreak = state.failureStreak + 1
      const alerts = failureStreak === brokenAfter ? [streakEnded("extraction_broken", state, failureStreak)] : []
      return { alerts, next: { ...state, failureStreak } }
    }
    case "ok": {
      const alerts: Array<DetectedAlert> = []
      if (state.lastObservedAt === null) {
        alerts.push(alert("first_seen", state, observed))
      } else {
        if (
          state.amount !== null && state.currency !== null && observed.amount !== null && observed.currency !== null
        ) {
          if (state.currency !== observed.currency) {
            alerts.push(alert("currency_changed", state, observed))
          } else {
            const order = Decimal.compare(observed.amount, state.amount)
            if (order !== 0) {
              alerts.push(
                alert(
                  order > 0 ? "price_up" : "price_down",
                  state,
                  observed,
                  Decimal.percentChange(state.amount, observed.amount) ?? null
                )
              )
            }
          }
        }
        if (state.availability === "out_of_stock" && observed.availability === "in_stock") {
          alerts.push(alert("back_in_stock", state, observed))
        } else if (state.availability === "in_stock" && observed.availability === "out_of_stock") {
          alerts.push(alert("out_of_stock", state, observed))
        }
      }
      const hasPrice = observed.amount !== null && observed.currency !== null
      return {
        alerts,
        next: {
          amount: hasPrice ? observed.amount : state.amount,
          currency: hasPrice ? observed.currency : state.currency,
          availability: observed.availability === "unknown" ? state.availability : observed.availability,
          failureStreak: 0,
          ambiguousStreak: 0,
          lastObservedAt: observed.observedAt
        }
      }
    }
  }
}
