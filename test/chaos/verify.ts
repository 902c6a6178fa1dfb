/**
 * Reading a trawl database back and judging it against the ground truth:
 * every observation against `Truth` at its sim-time, and the alerts a correct
 * monitor must have raised from that sequence of observations.
 *
 * @since 0.1.0
 */
import { DatabaseSync } from "node:sqlite"
import * as SimWeb from "../src/SimWeb.ts"
import type * as Truth from "../src/Truth.ts"

/**
 * One observation row, with its target's URL.
 *
 * @example
 * ```ts
 * import type { ObservationRow } from "./verify.ts"
 * const failed = (row: ObservationRow) => row.outcome === "error"
 * ```
 * @since 0.1.0
 */
export interface ObservationRow {
  readonly id: number
  readonly url: string
  readonly observedAt: number
  readonly outcome: "ok" | "unchanged" | "error"
  readonly amount: string | null
  readonly currency: string | null
  readonly availability: string
  readonly errorTag: string | null
}

/**
 * One alert row, with its target's URL.
 *
 * @example
 * ```ts
 * import type { AlertRow } from "./verify.ts"
 * const pending = (alert: AlertRow) => alert.sentAt === null
 * ```
 * @since 0.1.0
 */
export interface AlertRow {
  readonly key: string
  readonly url: string
  readonly kind: string
  readonly newAmount: string | null
  readonly sentAt: number | null
  /** The outbox lease of a deliverer that claimed it (a killed one holds it until then). */
  readonly claimedUntil: number | null
  readonly createdAt: number
}

/**
 * Reads the database read-only (a running writer in WAL mode is fine).
 *
 * @example
 * ```ts
 * import { readDatabase } from "./verify.ts"
 * const { alerts, observations } = readDatabase("/tmp/trawl.db")
 * ```
 * @since 0.1.0
 */
export const readDatabase = (file: string): { readonly observations: ReadonlyArray<ObservationRow>; readonly alerts: ReadonlyArray<AlertRow> } => {
  const db = new DatabaseSync(file, { readOnly: true })
  try {
    const observations = db.prepare(
      `SELECT o.id AS id, t.url AS url, o.observed_at AS observedAt, o.outcome AS outcome, o.amount AS amount,
              o.currency AS currency, o.availability AS availability, o.error_tag AS errorTag
       FROM observations o JOIN targets t ON t.id = o.target_id ORDER BY o.id`
    ).all() as unknown as Array<ObservationRow>
    const alerts = db.prepare(
      `SELECT a.key AS key, t.url AS url, a.kind AS kind, a.new_amount AS newAmount, a.sent_at AS sentAt,
              -- leases are per notifier (deliveries, schema 3): the alert's is the latest still unsent
              (SELECT max(d.claimed_until) FROM deliveries d WHERE d.alert_id = a.id AND d.sent_at IS NULL) AS claimedUntil,
              a.created_at AS createdAt
       FROM alerts a JOIN targets t ON t.id = a.target_id ORDER BY a.id`
    ).all() as unknown as Array<AlertRow>
    return {
      observations: observations.map((row) => ({ ...row, id: Number(row.id), observedAt: Number(row.observedAt) })),
      alerts: alerts.map((row) => ({
        ...row,
        sentAt: row.sentAt === null ? null : Number(row.sentAt),
        claimedUntil: row.claimedUntil === null ? null : Number(row.claimedUntil),
        createdAt: Number(row.createdAt)
      }))
    }
  } finally {
    db.close()
  }
}

/**
 * Observation count, or 0 while the database is not there yet.
 *
 * @example
 * ```ts
 * import { countObservations } from "./verify.ts"
 * countObservations("/tmp/trawl.db") // 0 before the app created it
 * ```
 * @since 0.1.0
 */
export const countObservations = (file: string): number => {
  try {
    const db = new DatabaseSync(file, { readOnly: true })
    try {
      return Number((db.prepare("SELECT count(*) AS n FROM observations").get() as { n: number | bigint }).n)
    } finally {
      db.close()
    }
  } catch {
    return 0
  }
}

const storeAvailability = (availability: Truth.Availability) => availability === "InStock" ? "in_stock" : "out_of_stock"

/**
 * The verdict on a database: observations that disagree with the truth, and
 * the alerts expected from the observations (as `url kind newAmount` lines).
 *
 * @example
 * ```ts
 * import type { Verdict } from "./verify.ts"
 * const clean = (verdict: Verdict) => verdict.wrong.length === 0
 * ```
 * @since 0.1.0
 */
export interface Verdict {
  readonly wrong: ReadonlyArray<{ readonly row: ObservationRow; readonly expected: unknown }>
  readonly expectedAlerts: ReadonlyArray<string>
}

/**
 * Judges observations (in id order) against the truth. `clockAt` gives the
 * `/__clock` reading valid at a wall time (one per span between clock moves).
 * `allowedError` accepts an error row the scenario expects (e.g. a page whose
 * worker was killed).
 *
 * Change detection is mirrored from the store's rules: the first reading
 * with a price raises `first_seen`; later a different amount raises
 * `price_up`/`price_down`, an availability flip `out_of_stock`/`back_in_stock`;
 * a 304 must mean the page's version did not change.
 *
 * @example
 * ```ts
 * import type { SimWeb } from "@trawl/harness"
 * import { judge, readDatabase } from "./verify.ts"
 * declare const web: SimWeb.SimWeb
 * declare const clock: SimWeb.ClockView
 * const verdict = judge(web, readDatabase("/tmp/trawl.db").observations, () => clock)
 * ```
 * @since 0.1.0
 */
export const judge = (
  web: Pick<SimWeb.SimWeb, "truthAt">,
  observations: ReadonlyArray<ObservationRow>,
  clockAt: (wallMillis: number) => SimWeb.ClockView,
  allowedError: (row: ObservationRow) => boolean = () => false
): Verdict => {
  const wrong: Array<{ row: ObservationRow; expected: unknown }> = []
  const expectedAlerts: Array<string> = []
  const state = new Map<string, { amount: string | null; availability: string; version: number; seen: boolean }>()
  for (const row of observations) {
    const truth = web.truthAt(row.url, SimWeb.simTimeAt(clockAt(row.observedAt), row.observedAt))
    if (truth === undefined) {
      wrong.push({ row, expected: "a product URL of the sim web" })
      continue
    }
    const before = state.get(row.url)
    if (row.outcome === "error") {
      const ok = truth.expected._tag === "Error" ? row.errorTag === truth.expected.error : allowedError(row)
      if (!ok) wrong.push({ row, expected: truth.expected })
      continue
    }
    if (row.outcome === "unchanged") {
      if (before === undefined || before.version !== truth.version) wrong.push({ row, expected: { version: truth.version, was: before?.version } })
      continue
    }
    const expected = truth.expected
    const availability = storeAvailability(truth.availability)
    const priceOk = expected._tag === "Price" && (row.amount === expected.price ||
      (row.amount === null && availability === "out_of_stock")) &&
      (row.amount === null || row.currency === expected.currency)
    if (!priceOk || row.availability !== availability) {
      wrong.push({ row, expected })
      continue
    }
    if (before === undefined || !before.seen) {
      expectedAlerts.push(`${row.url} first_seen ${row.amount}`)
    } else {
      if (before.amount !== null && row.amount !== null && before.amount !== row.amount) {
        expectedAlerts.push(`${row.url} ${Number(row.amount) > Number(before.amount) ? "price_up" : "price_down"} ${row.amount}`)
      }
      if (before.availability === "out_of_stock" && availability === "in_stock") expectedAlerts.push(`${row.url} back_in_stock ${row.amount}`)
      if (before.availability === "in_stock" && availability === "out_of_stock") expectedAlerts.push(`${row.url} out_of_stock ${row.amount}`)
    }
    state.set(row.url, {
      amount: row.amount ?? before?.amount ?? null,
      availability,
      version: truth.version,
      seen: true
    })
  }
  return { wrong, expectedAlerts }
}

/**
 * An alert row as the `url kind newAmount` line `judge` expects.
 *
 * @example
 * ```ts
 * import { alertLine, readDatabase } from "./verify.ts"
 * const lines = readDatabase("/tmp/trawl.db").alerts.map(alertLine)
 * ```
 * @since 0.1.0
 */
export const alertLine = (alert: AlertRow): string => `${alert.url} ${alert.kind} ${alert.newAmount}`

/**
 * Differences between two multisets of lines: what is missing from `actual`
 * and what it has too many of.
 *
 * @example
 * ```ts
 * import { diffLines } from "./verify.ts"
 * diffLines(["a", "b"], ["b", "b"]) // { missing: ["a"], extra: ["b"] }
 * ```
 * @since 0.1.0
 */
export const diffLines = (expected: ReadonlyArray<string>, actual: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const line of expected) counts.set(line, (counts.get(line) ?? 0) + 1)
  for (const line of actual) counts.set(line, (counts.get(line) ?? 0) - 1)
  const missing: Array<string> = []
  const extra: Array<string> = []
  for (const [line, n] of counts) {
    for (let i = 0; i < n; i++) missing.push(line)
    for (let i = 0; i < -n; i++) extra.push(line)
  }
  return { missing, extra }
}
