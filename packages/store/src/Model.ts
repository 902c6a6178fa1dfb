/**
 * The store's data: targets, observations, alerts and runs, as
 * `effect/Schema` classes. Prices are exact decimal strings plus an ISO 4217
 * currency code, never floats; times are epoch milliseconds.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as AlertRule from "./AlertRule.ts"

/**
 * A non-negative exact decimal written with `.` as the decimal point
 * (`"1299"`, `"12.50"`), at most 30 digits in all.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@trawl/store"
 *
 * Schema.decodeUnknownSync(Model.Decimal)("12.50") // "12.50"
 * ```
 *
 * @since 0.1.0
 */
export const Decimal = Schema.String.check(
  Schema.isPattern(/^\d{1,20}(\.\d{1,10})?$/, { expected: "a plain non-negative decimal such as 12.50" })
)

/**
 * An ISO 4217 currency code.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Model } from "@trawl/store"
 *
 * Schema.decodeUnknownSync(Model.CurrencyCode)("EUR")
 * ```
 *
 * @since 0.1.0
 */
export const CurrencyCode = Schema.String.check(Schema.isPattern(/^[A-Z]{3}$/, { expected: "a currency code such as EUR" }))

/**
 * An exact amount of money.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const price = new Model.Money({ amount: "19.99", currency: "EUR" })
 * ```
 *
 * @since 0.1.0
 */
export class Money extends Schema.Class<Money>("@trawl/store/Money")({
  amount: Decimal,
  currency: CurrencyCode
}) {}

/**
 * Whether a product can be bought.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const availability: Model.Availability = "in_stock"
 * ```
 *
 * @since 0.1.0
 */
export const Availability = Schema.Literals(["in_stock", "out_of_stock", "unknown"])

/**
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const value: Model.Availability = "out_of_stock"
 * ```
 *
 * @since 0.1.0
 */
export type Availability = typeof Availability.Type

/**
 * What one visit of a target produced: a reading (`ok`), an HTTP 304
 * (`unchanged`: nothing extracted, the last reading still holds), a page
 * that disagrees with itself about its price (`ambiguous`, with the prices in
 * contention: never a price alert) or a failure (`error`, with the tag of the
 * fetch or extraction error).
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const outcome: Model.Outcome = "unchanged"
 * ```
 *
 * @since 0.1.0
 */
export const Outcome = Schema.Literals(["ok", "unchanged", "error", "ambiguous"])

/**
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const value: Model.Outcome = "error"
 * ```
 *
 * @since 0.1.0
 */
export type Outcome = typeof Outcome.Type

/**
 * The longest product name an alert keeps, in UTF-16 code units: a page may
 * put anything in its name, and every alert it raises would carry it.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * Model.productNameMaxLength // 300
 * ```
 *
 * @since 0.1.0
 */
export const productNameMaxLength = 300

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Id = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/**
 * A target's or group's alert rules, each in canonical text.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 * import { Schema } from "effect"
 *
 * Schema.is(Model.AlertRules)(["below 100 EUR", "drop 10%"]) // true
 * ```
 *
 * @since 0.4.0
 */
export const AlertRules = Schema.Array(AlertRule.RuleText).check(Schema.isMaxLength(AlertRule.maxRules))

/**
 * `confirm N`: 1 to 100 readings in a row.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 * import { Schema } from "effect"
 *
 * Schema.is(Model.Confirm)(2) // true
 * ```
 *
 * @since 0.4.0
 */
export const Confirm = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))

/**
 * A competitor group's name: 1 to 100 characters, no control characters,
 * no leading or trailing space.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 * import { Schema } from "effect"
 *
 * Schema.is(Model.GroupName)("kettle-x") // true
 * ```
 *
 * @since 0.4.0
 */
export const GroupName = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(100),
  Schema.isPattern(/^[^\s\p{Cc}](?:[^\p{Cc}]*[^\s\p{Cc}])?$/u)
)

/**
 * A channel URL named on a target or a group (`slack+https://…`,
 * `ntfy+https://host/topic`, …): kept opaque by the store, which only asks
 * that it be non-blank and hold no line break (it stores them one a line).
 * Whether it names a usable channel is the app's to check.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 * import { Schema } from "effect"
 *
 * Schema.is(Model.ChannelUrl)("ntfy+https://ntfy.sh/prices") // true
 * ```
 *
 * @since 0.4.0
 */
export const ChannelUrl = Schema.String.check(
  Schema.isMaxLength(4096),
  Schema.isPattern(/^[^\s](?:[^\r\n]*[^\s])?$/)
)

/**
 * A target to add: a product page watched every `intervalMillis`. `rules` is
 * the target's own extraction rules as JSON (the store keeps them opaque).
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const target = new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: 300_000 })
 * ```
 *
 * @since 0.1.0
 */
export class NewTarget extends Schema.Class<NewTarget>("@trawl/store/NewTarget")({
  url: Schema.String,
  intervalMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1000)),
  rules: Schema.optional(Schema.Json),
  enabled: Schema.optional(Schema.Boolean),
  /** First due time; default: now. */
  dueAt: Schema.optional(Millis),
  /** Alert rules in canonical text (`AlertRule.format`); none: `AlertRule.defaults`. */
  alertRules: Schema.optional(AlertRules),
  /** Readings in a row that must agree before a change counts (default 1). */
  confirm: Schema.optional(Confirm),
  /** At most one alert per rule within this window (default 0: none). */
  cooldownMillis: Schema.optional(Millis),
  /** The competitor group: the same product at several shops. */
  group: Schema.optional(GroupName),
  /** Alert channels of this target's own: they receive its alerts (and only those). */
  notify: Schema.optional(Schema.Array(ChannelUrl))
}) {}

/**
 * A watched target with its schedule, HTTP validators and last known state.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const urls = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const due = yield* store.dueTargets({ now: Date.now(), limit: 100 })
 *   return due.map((target) => target.url)
 * })
 * ```
 *
 * @since 0.1.0
 */
export class Target extends Schema.Class<Target>("@trawl/store/Target")({
  id: Id,
  url: Schema.String,
  host: Schema.String,
  intervalMillis: Schema.Int,
  rules: Schema.NullOr(Schema.Json),
  enabled: Schema.Boolean,
  nextDueAt: Millis,
  failureStreak: Schema.Int,
  etag: Schema.NullOr(Schema.String),
  lastModified: Schema.NullOr(Schema.String),
  lastPrice: Schema.NullOr(Money),
  lastAvailability: Availability,
  lastObservedAt: Schema.NullOr(Millis),
  createdAt: Millis,
  /** Alert rules in canonical text; empty: `AlertRule.defaults`. */
  alertRules: AlertRules,
  confirm: Schema.Int,
  cooldownMillis: Millis,
  /** No alerts for readings before this time. */
  mutedUntil: Schema.NullOr(Millis),
  group: Schema.NullOr(Schema.String),
  /** The target's own alert channels (URLs, secrets included: show them redacted); empty: none. */
  notify: Schema.Array(Schema.String)
}) {}

/**
 * One of the prices an ambiguous page offers: its amount, currency (null when
 * the page does not say), where it was read and how much that source is trusted.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const candidate = new Model.PriceCandidate({ amount: "19.99", currency: "EUR", source: "json-ld", detail: "JSON-LD block 1", confidence: 0.9 })
 * ```
 *
 * @since 0.4.0
 */
export class PriceCandidate extends Schema.Class<PriceCandidate>("@trawl/store/PriceCandidate")({
  amount: Schema.String,
  currency: Schema.NullOr(Schema.String),
  source: Schema.String,
  detail: Schema.String,
  confidence: Schema.Number
}) {}

/**
 * Why a reading is `ambiguous`: the extraction's reason and line, and the
 * prices in contention, most trusted first.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const ambiguity = new Model.Ambiguity({ reason: "sources-disagree", detail: "json-ld and microdata disagree", candidates: [] })
 * ```
 *
 * @since 0.4.0
 */
export class Ambiguity extends Schema.Class<Ambiguity>("@trawl/store/Ambiguity")({
  reason: Schema.String,
  detail: Schema.String,
  candidates: Schema.Array(PriceCandidate)
}) {}

/**
 * One visit's outcome, as the pipeline hands it to the store.
 *
 * - `targetId` + `observedAt` identify the visit (its key is
 *   `<targetId>@<observedAt>`): recording it twice is a no-op, so a batch
 *   replayed after a lost acknowledgement adds nothing.
 * - `nextDueAt`: when the target is due again; default `observedAt + interval`.
 * - `etag` / `lastModified`: new HTTP validators; `undefined` keeps the old ones.
 * - `productName`: the product's name as the page showed it. The store keeps
 *   it with the alerts this observation raises (cut to
 *   {@link productNameMaxLength} characters), not with the observation.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const observation = new Model.ObservationInput({
 *   targetId: 1,
 *   observedAt: Date.now(),
 *   outcome: "ok",
 *   price: new Model.Money({ amount: "19.99", currency: "EUR" }),
 *   availability: "in_stock",
 *   httpStatus: 200,
 *   productName: "Kettle"
 * })
 * ```
 *
 * @since 0.1.0
 */
export class ObservationInput extends Schema.Class<ObservationInput>("@trawl/store/ObservationInput")({
  targetId: Id,
  observedAt: Millis,
  outcome: Outcome,
  price: Schema.optional(Schema.NullOr(Money)),
  availability: Schema.optional(Availability),
  httpStatus: Schema.optional(Schema.NullOr(Schema.Int)),
  errorTag: Schema.optional(Schema.NullOr(Schema.String)),
  source: Schema.optional(Schema.NullOr(Schema.String)),
  /** How much the extraction trusts the price it read (0–1), with `source`. */
  confidence: Schema.optional(Schema.NullOr(Schema.Number)),
  contentHash: Schema.optional(Schema.NullOr(Schema.String)),
  runId: Schema.optional(Schema.NullOr(Id)),
  nextDueAt: Schema.optional(Millis),
  etag: Schema.optional(Schema.NullOr(Schema.String)),
  lastModified: Schema.optional(Schema.NullOr(Schema.String)),
  productName: Schema.optional(Schema.NullOr(Schema.String)),
  /** With outcome `ambiguous`: why, and the prices in contention. */
  ambiguity: Schema.optional(Schema.NullOr(Ambiguity))
}) {}

/**
 * A recorded observation.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const prices = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const history = yield* store.history(1)
 *   return history.map((observation) => observation.price?.amount)
 * })
 * ```
 *
 * @since 0.1.0
 */
export class Observation extends Schema.Class<Observation>("@trawl/store/Observation")({
  id: Id,
  key: Schema.String,
  targetId: Id,
  runId: Schema.NullOr(Id),
  observedAt: Millis,
  outcome: Outcome,
  price: Schema.NullOr(Money),
  availability: Availability,
  httpStatus: Schema.NullOr(Schema.Int),
  errorTag: Schema.NullOr(Schema.String),
  source: Schema.NullOr(Schema.String),
  /** How much the extraction trusted the price it read (0–1); null without an extraction, or recorded before trawl kept it. */
  confidence: Schema.NullOr(Schema.Number),
  contentHash: Schema.NullOr(Schema.String),
  /** Outcome `ambiguous`: why, and the prices in contention; null otherwise. */
  ambiguity: Schema.NullOr(Ambiguity)
}) {}

/**
 * What changed: `price_up` / `price_down` (same currency, with percent),
 * `currency_changed`, `back_in_stock`, `out_of_stock`, `first_seen` (the
 * first successful reading of a target) and `extraction_broken` (the failure
 * streak reached its threshold); from a target's alert rules (`AlertRule`)
 * also `price_below`, `price_above`, `price_drop` and `price_rise`; and
 * `price_ambiguous` when a target's page stayed ambiguous for
 * `StoreOptions.ambiguousAfter` readings in a row (once per streak); and for
 * a competitor group `cheapest_changed` (another shop has the best in-stock
 * offer; the alert is that shop's) and its own rules' alerts (`group` set).
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const kind: Model.AlertKind = "price_down"
 * ```
 *
 * @since 0.1.0
 */
export const AlertKind = Schema.Literals([
  "first_seen",
  "price_up",
  "price_down",
  "currency_changed",
  "back_in_stock",
  "out_of_stock",
  "extraction_broken",
  "price_below",
  "price_above",
  "price_drop",
  "price_rise",
  "price_ambiguous",
  "cheapest_changed"
])

/**
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const value: Model.AlertKind = "back_in_stock"
 * ```
 *
 * @since 0.1.0
 */
export type AlertKind = typeof AlertKind.Type

/**
 * An alert in the outbox. `key` (`t<target>-o<observation>-<kind>`) is its
 * idempotency key: notifiers hand it to receivers so a re-delivery after a
 * crash is recognised. `percent` is the exact change relative to the old
 * price, rounded half away from zero to 2 places (`"-12.50"`). `productName`
 * is the name the observation that raised it read from the page: `null` when
 * that observation carried none (a page without a name, a failed fetch) or
 * the alert predates the column.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const keys: Array<string> = []
 * const pass = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   yield* store.registerNotifiers(["stdout"])
 *   return yield* store.deliver("stdout", (alert) => Effect.sync(() => keys.push(alert.key)))
 * })
 * ```
 *
 * @since 0.1.0
 */
export class Alert extends Schema.Class<Alert>("@trawl/store/Alert")({
  id: Id,
  key: Schema.String,
  targetId: Id,
  url: Schema.String,
  observationId: Id,
  kind: AlertKind,
  oldPrice: Schema.NullOr(Money),
  newPrice: Schema.NullOr(Money),
  percent: Schema.NullOr(Schema.String),
  failureStreak: Schema.Int,
  createdAt: Millis,
  sentAt: Schema.NullOr(Millis),
  productName: Schema.NullOr(Schema.String),
  /** The rule that raised it (canonical text); null for a target's default alerts. */
  rule: Schema.NullOr(Schema.String),
  /** The competitor group it is about (`cheapest_changed`, a group's rules); null for a target's own alerts. */
  group: Schema.NullOr(Schema.String)
}) {}

/**
 * One shop's offer in a competitor group: the target, its last decided price
 * and availability, and the price in the group's comparison currency (null
 * when it has none or it cannot be compared: another currency, no rate).
 *
 * @example
 * ```ts
 * import type { Model } from "@trawl/store"
 * declare const offer: Model.GroupOffer
 * offer.compared // "92.00"
 * ```
 *
 * @since 0.4.0
 */
export class GroupOffer extends Schema.Class<GroupOffer>("@trawl/store/GroupOffer")({
  targetId: Id,
  url: Schema.String,
  host: Schema.String,
  price: Schema.NullOr(Money),
  availability: Availability,
  lastObservedAt: Schema.NullOr(Millis),
  compared: Schema.NullOr(Schema.String)
}) {}

/**
 * A competitor group: its offers (by target id), the currency they are
 * compared in (the rates' base, or the group's usual currency without
 * rates), the rates' date when rates were used, its best in-stock offer and
 * its own alert rules.
 *
 * @example
 * ```ts
 * import type { Model } from "@trawl/store"
 * declare const group: Model.Group
 * group.offers.find((offer) => offer.targetId === group.best)?.url
 * ```
 *
 * @since 0.4.0
 */
export class Group extends Schema.Class<Group>("@trawl/store/Group")({
  name: Schema.String,
  offers: Schema.Array(GroupOffer),
  currency: Schema.NullOr(Schema.String),
  ratesDate: Schema.NullOr(Schema.String),
  best: Schema.NullOr(Id),
  alertRules: AlertRules,
  confirm: Schema.Int,
  cooldownMillis: Millis,
  mutedUntil: Schema.NullOr(Millis),
  /** The group's alert channels (URLs, secrets included: show them redacted): its alerts and its members'. */
  notify: Schema.Array(Schema.String)
}) {}

/**
 * What recording one observation did: its id, whether it was new (false when
 * its key had been recorded before), and the alerts it raised.
 *
 * @example
 * ```ts
 * import { Model } from "@trawl/store"
 *
 * const describe = (result: Model.RecordResult) =>
 *   result.inserted ? `${result.alerts.length} alerts` : "already recorded"
 * ```
 *
 * @since 0.1.0
 */
export class RecordResult extends Schema.Class<RecordResult>("@trawl/store/RecordResult")({
  key: Schema.String,
  observationId: Schema.NullOr(Id),
  inserted: Schema.Boolean,
  alerts: Schema.Array(Alert)
}) {}

/**
 * One pass of the scraper over its due targets.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const run = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const run = yield* store.startRun()
 *   return yield* store.finishRun(run.id, { status: "finished", observations: 10, failures: 1 })
 * })
 * ```
 *
 * @since 0.1.0
 */
export class Run extends Schema.Class<Run>("@trawl/store/Run")({
  id: Id,
  startedAt: Millis,
  finishedAt: Schema.NullOr(Millis),
  status: Schema.Literals(["running", "finished", "aborted"]),
  observations: Schema.Int,
  failures: Schema.Int
}) {}

/**
 * Counts for a status page.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const pending = Effect.map(Effect.flatMap(Store.Store, (s) => s.statusCounts(Date.now())), (c) => c.alertsPending)
 * ```
 *
 * @since 0.1.0
 */
export class StatusCounts extends Schema.Class<StatusCounts>("@trawl/store/StatusCounts")({
  targets: Schema.Int,
  enabled: Schema.Int,
  due: Schema.Int,
  failing: Schema.Int,
  observations: Schema.Int,
  alertsPending: Schema.Int,
  alertsSent: Schema.Int,
  runs: Schema.Int
}) {}

/**
 * Where a notifier stands: alerts still to deliver, alerts delivered, and its
 * last failure and last success (epoch ms). `lastError` stays after a later
 * success: compare `lastErrorAt` with `lastDeliveredAt`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const failing = Effect.map(
 *   Effect.flatMap(Store.Store, (store) => store.notifierStatus()),
 *   (all) => all.filter((n) => n.lastErrorAt !== null && n.lastErrorAt > (n.lastDeliveredAt ?? 0))
 * )
 * ```
 *
 * @since 0.1.0
 */
export class NotifierStatus extends Schema.Class<NotifierStatus>("@trawl/store/NotifierStatus")({
  name: Schema.String,
  pending: Schema.Int,
  delivered: Schema.Int,
  lastError: Schema.NullOr(Schema.String),
  lastErrorAt: Schema.NullOr(Millis),
  lastDeliveredAt: Schema.NullOr(Millis)
}) {}
