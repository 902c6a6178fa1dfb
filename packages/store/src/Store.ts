/**
 * The `Store` service: targets, observations with change detection, the
 * alert outbox and runs, over any `effect/sql` `SqlClient`. `layerSqlite`
 * (the embedded default) and `layerPostgres` open the database, refuse a
 * schema newer than this code, and run the migrations at start.
 *
 * Recording a batch of observations is one transaction: each observation,
 * the alerts its change raises and the target's new state are written
 * together or not at all, so an alert exists exactly when its observation
 * does. Observations and alerts carry idempotency keys: replaying a batch
 * whose acknowledgement was lost adds nothing.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import * as AlertRule from "./AlertRule.ts"
import * as Decimal from "./internal/decimal.ts"
import * as Detect from "./internal/detect.ts"
import * as Groups from "./internal/groups.ts"
import * as Rules from "./internal/rules.ts"
import * as Sqlite from "./internal/sqlite.ts"
import * as Url from "./internal/url.ts"
import * as Migrations from "./Migrations.ts"
import type * as RatesModule from "./Rates.ts"
import * as Model from "./Model.ts"
import * as SqliteClient from "./SqliteClient.ts"
import * as SqliteWorkerClient from "./SqliteWorkerClient.ts"
import * as StoreError from "./StoreError.ts"

/**
 * Options of the store, whatever the backend.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const options: Store.StoreOptions = { brokenAfter: 5 }
 * ```
 *
 * @since 0.1.0
 */
export interface StoreOptions {
  /** The failure streak at which `extraction_broken` is raised. Default 3. */
  readonly brokenAfter?: number | undefined
  /** Ambiguous readings in a row at which `price_ambiguous` is raised. Default 3. */
  readonly ambiguousAfter?: number | undefined
  /** Exchange rates for comparing a competitor group's offers; without them a group compares offers in its usual currency only. */
  readonly rates?: RatesModule.Rates | undefined
  /** Rows per multi-row statement (bounded by the databases' parameter limits). Default 500. */
  readonly chunkSize?: number | undefined
  /** How the database is named in error messages. Default: the file name or "postgres". */
  readonly database?: string | undefined
  /**
   * Fault injection for tests: runs between the statements of a write
   * transaction (`step` names the statement just done). Failing or
   * interrupting here must roll the whole transaction back.
   */
  readonly betweenStatements?: ((step: string) => Effect.Effect<void>) | undefined
}

/**
 * Which observations to read or export.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const filter: Store.ObservationFilter = { targetId: 1, since: Date.now() - 86_400_000 }
 * ```
 *
 * @since 0.1.0
 */
export interface ObservationFilter {
  readonly targetId?: number | undefined
  /** Observed at or after (epoch ms). */
  readonly since?: number | undefined
  /** Observed before (epoch ms). */
  readonly until?: number | undefined
  /** Rows fetched per query while streaming; memory is bounded by it. Default 1000. */
  readonly pageSize?: number | undefined
}

/**
 * How a delivery pass of one notifier went.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const summary = (d: Store.Delivery) => `${d.delivered} sent, ${d.failed} failed`
 * ```
 *
 * @since 0.1.0
 */
export interface Delivery {
  /** Alerts delivered (and recorded) in this pass, skipped ones included. */
  readonly delivered: number
  /** Of those, the alerts the notifier had nothing to send for (`skipped`). */
  readonly skipped: number
  /** 1 when a failure stopped the pass, else 0. */
  readonly failed: number
  /** What that failure said (its `message`, else its `_tag`, else the value), at most 1000 characters. */
  readonly lastError?: string
}

/**
 * What a `deliver` callback returns for an alert its notifier has nothing to
 * send for (e.g. a console that does not print `first_seen`): the alert is
 * done for that notifier, and such alerts are recorded together at the end of
 * the pass (one step) instead of one by one — nothing was sent, so a crash
 * before then only has them skipped again.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model, Store } from "@trawl/store"
 *
 * const notify = (alert: Model.Alert) =>
 *   alert.kind === "first_seen" ? Effect.succeed(Store.skipped) : Effect.log(alert.key)
 * ```
 * @since 0.2.0
 */
export const skipped: unique symbol = Symbol.for("@trawl/store/Store/skipped")

/**
 * The type of `skipped`.
 *
 * @since 0.2.0
 */
export type Skipped = typeof skipped

/**
 * What `Service.updateTarget` changes: each field given, the others kept.
 *
 * @example
 * ```ts
 * import type { Store } from "@trawl/store"
 * const changes: Store.TargetChanges = { enabled: false, intervalMillis: 600_000 }
 * ```
 * @since 0.3.0
 */
export interface TargetChanges {
  readonly enabled?: boolean | undefined
  readonly intervalMillis?: number | undefined
  /** The target's own extraction rules as JSON (kept opaque, as `NewTarget.rules`), or null for none. */
  readonly rules?: Schema.Json | null | undefined
  /** Alert rules in canonical text (`AlertRule.format`); empty or null: the defaults. */
  readonly alertRules?: ReadonlyArray<string> | null | undefined
  readonly confirm?: number | undefined
  readonly cooldownMillis?: number | undefined
  /** No alerts for readings before this time; null: not muted. */
  readonly mutedUntil?: number | null | undefined
  /** The competitor group, or null for none. */
  readonly group?: string | null | undefined
  /**
   * The target's own alert channels (URLs, kept opaque: the app checks them),
   * replacing those it had; empty or null: none. Each is trimmed, blank ones
   * and repeats dropped; a URL holds no line break (the store keeps them one a
   * line, so one with a line break would come back as two).
   */
  readonly notify?: ReadonlyArray<string> | null | undefined
}

/**
 * The alert channels named on targets and groups (`Service.channelRoutes`),
 * as URLs: which ones each target's alerts go to (its own and its group's),
 * and each group's own (for the alerts about the group, `Alert.group`).
 * Targets and groups that name none are left out.
 *
 * @example
 * ```ts
 * import type { Store } from "@trawl/store"
 * declare const routes: Store.ChannelRoutes
 * const forAlert = (targetId: number, group: string | null) =>
 *   [...(routes.targets.get(targetId) ?? []), ...(group === null ? [] : routes.groups.get(group) ?? [])]
 * ```
 * @since 0.4.0
 */
export interface ChannelRoutes {
  /** Per target id: its own channels, then its group's. */
  readonly targets: ReadonlyMap<number, ReadonlyArray<string>>
  /** Per group name: the group's channels. */
  readonly groups: ReadonlyMap<string, ReadonlyArray<string>>
}

/**
 * A page of targets and how many match in all (`Service.searchTargets`).
 *
 * @example
 * ```ts
 * import type { Store } from "@trawl/store"
 * declare const page: Store.TargetPage
 * const pages = Math.ceil(page.total / 50)
 * ```
 * @since 0.3.0
 */
export interface TargetPage {
  readonly total: number
  readonly targets: ReadonlyArray<Model.Target>
}

/**
 * The store's operations.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Model, Store } from "@trawl/store"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const target = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: 60_000 }))
 *   yield* store.recordObservations([
 *     new Model.ObservationInput({ targetId: target.id, observedAt: Date.now(), outcome: "ok", availability: "in_stock" })
 *   ])
 * })
 * ```
 *
 * @since 0.1.0
 */
export interface Service {
  /** The SQL dialect underneath ("sqlite" or "pg"). */
  readonly dialect: string
  /** Adds a target; fails with `InvalidUrl` or `DuplicateTarget`. */
  readonly addTarget: (
    target: Model.NewTarget
  ) => Effect.Effect<Model.Target, StoreError.InvalidUrl | StoreError.DuplicateTarget | StoreError.DatabaseError>
  /** Adds many targets in one transaction: all of them, or none. */
  readonly addTargets: (
    targets: ReadonlyArray<Model.NewTarget>
  ) => Effect.Effect<number, StoreError.InvalidUrl | StoreError.DuplicateTarget | StoreError.DatabaseError>
  readonly getTarget: (id: number) => Effect.Effect<Model.Target, StoreError.TargetNotFound | StoreError.DatabaseError>
  /**
   * A competitor group as it stands: each member's last decided price and
   * availability, compared in the rates' base currency (`StoreOptions.rates`)
   * or, without rates, in the currency most of its offers are in; its best
   * in-stock offer and its own rules. None when no target is in the group.
   */
  readonly group: (name: string) => Effect.Effect<Option.Option<Model.Group>, StoreError.DatabaseError>
  /**
   * Sets a group's own alert rules (they apply to its best in-stock price),
   * confirm, cooldown, mute or alert channels (`notify`, as `TargetChanges.notify`).
   */
  readonly updateGroup: (
    name: string,
    changes: Pick<TargetChanges, "alertRules" | "confirm" | "cooldownMillis" | "mutedUntil" | "notify">
  ) => Effect.Effect<Model.Group, StoreError.InvalidAlertRule | StoreError.DatabaseError>
  /** Every alert channel URL named on a target or a group, each once, sorted: the channels a run builds at its start. */
  readonly channels: Effect.Effect<ReadonlyArray<string>, StoreError.DatabaseError>
  /** Which targets' and groups' alerts go to which of those channels (`ChannelRoutes`), as they stand now. */
  readonly channelRoutes: Effect.Effect<ChannelRoutes, StoreError.DatabaseError>
  /** The target watching exactly this URL (as stored: normalised by `addTarget`), if any. */
  readonly targetByUrl: (url: string) => Effect.Effect<Option.Option<Model.Target>, StoreError.DatabaseError>
  readonly setEnabled: (
    id: number,
    enabled: boolean
  ) => Effect.Effect<void, StoreError.TargetNotFound | StoreError.DatabaseError>
  /** Changes what is given (`TargetChanges`); returns the target as it is now. */
  readonly updateTarget: (
    id: number,
    changes: TargetChanges
  ) => Effect.Effect<Model.Target, StoreError.TargetNotFound | StoreError.InvalidAlertRule | StoreError.DatabaseError>
  readonly removeTarget: (id: number) => Effect.Effect<void, StoreError.TargetNotFound | StoreError.DatabaseError>
  /**
   * A number that changes whenever the targets to schedule may have changed: one
   * added or removed, or its URL, interval, rules or enabled flag changed (by this
   * process or another). Visits leave it alone. A running monitor reads every
   * target again only when it moved.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Store } from "@trawl/store"
   *
   * const changedSince = (seen: number) =>
   *   Effect.flatMap(Store.Store, (store) => Effect.map(store.targetsRevision, (now) => now !== seen))
   * ```
   * @since 0.3.0
   */
  readonly targetsRevision: Effect.Effect<number, StoreError.DatabaseError>
  /** Enabled targets due at `now`, earliest first (index `targets_due`). */
  readonly dueTargets: (
    options: { readonly now: number; readonly limit: number }
  ) => Effect.Effect<ReadonlyArray<Model.Target>, StoreError.DatabaseError>
  /**
   * Records observations, detects changes and writes the alerts, in one
   * transaction; returns one result per input, in order.
   */
  readonly recordObservations: (
    batch: ReadonlyArray<Model.ObservationInput>
  ) => Effect.Effect<ReadonlyArray<Model.RecordResult>, StoreError.TargetNotFound | StoreError.DatabaseError>
  /** A target's observations at or after `since` and before `until`, newest first, at most `limit` (1,000). */
  readonly history: (
    targetId: number,
    options?: { readonly since?: number | undefined; readonly until?: number | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Model.Observation>, StoreError.DatabaseError>
  /**
   * A page of the targets whose URL contains `query` (any case — on SQLite
   * for ASCII letters; every target without a query), by id, and how many
   * match in all: for browsing 50,000+ targets a page at a time.
   */
  readonly searchTargets: (
    options: { readonly query?: string | undefined; readonly offset: number; readonly limit: number }
  ) => Effect.Effect<TargetPage, StoreError.DatabaseError>
  /** Alerts created at or after `since`, newest first, at most `limit`; of one kind or target when given. */
  readonly alerts: (options: {
    readonly since?: number | undefined
    readonly kind?: Model.AlertKind | undefined
    readonly targetId?: number | undefined
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<Model.Alert>, StoreError.DatabaseError>
  /** Counts for a status page; `alertsPending`/`alertsSent` count alerts not yet / already delivered by every notifier. */
  readonly statusCounts: (now: number) => Effect.Effect<Model.StatusCounts, StoreError.DatabaseError>
  /**
   * Registers notifiers by stable name (`"stdout"`, `"jsonl ./alerts.jsonl"`,
   * `"webhook https://hooks.example/x"`); idempotent. A notifier seen for the
   * first time gets the alerts still unsent (not delivered by every notifier
   * registered before it) and every later one, not the history already sent.
   * Register every notifier of a run before its first `deliver`: an alert
   * counts as sent (`Alert.sentAt`) once every registered notifier delivered it.
   */
  readonly registerNotifiers: (names: ReadonlyArray<string>) => Effect.Effect<void, StoreError.DatabaseError>
  /**
   * One delivery pass for one notifier: claims up to `limit` alerts pending
   * for it (oldest first, default 100) for `leaseMillis` (default 60 s), hands
   * each to `notify` in order, and records it delivered for this notifier once
   * `notify` succeeded (its value is ignored, unless it is `skipped`: such
   * alerts are recorded together at the end of the pass). Each notifier delivers on its own: a failing one holds
   * back no other. Concurrent deliverers (fibers or processes) never claim the
   * same alert for the same notifier.
   *
   * A typed failure of `notify` is recorded (attempts and last error on the
   * delivery, last error on the notifier), the alert and the rest of the pass
   * are released, and the pass stops: the next pass starts with that alert
   * again, so order is kept and a failing channel does not spin. Interruption
   * (a crash) and defects end the pass with its alerts claimed until their
   * lease ends; then they are delivered again under the same `Alert.key`, on
   * which receivers deduplicate. Fails with `StorageFailure` for a notifier
   * never registered.
   */
  readonly deliver: <E, R>(
    notifier: string,
    notify: (alert: Model.Alert) => Effect.Effect<unknown, E, R>,
    options?: { readonly limit?: number | undefined; readonly leaseMillis?: number | undefined }
  ) => Effect.Effect<Delivery, StoreError.DatabaseError, R>
  /** Every registered notifier, by name: pending and delivered counts, last error and last delivery. */
  readonly notifierStatus: () => Effect.Effect<ReadonlyArray<Model.NotifierStatus>, StoreError.DatabaseError>
  readonly startRun: () => Effect.Effect<Model.Run, StoreError.DatabaseError>
  readonly finishRun: (
    id: number,
    summary: {
      readonly status: "finished" | "aborted"
      readonly observations: number
      readonly failures: number
    }
  ) => Effect.Effect<Model.Run, StoreError.DatabaseError>
  /** Observations in id order, read page by page (memory bounded by `pageSize`). */
  readonly observations: (filter?: ObservationFilter) => Stream.Stream<Model.Observation, StoreError.DatabaseError>
  /**
   * Observations as export lines (each ending in `\n`): JSON lines, or CSV
   * with a header line. Streamed page by page.
   */
  readonly exportObservations: (
    format: "jsonl" | "csv",
    filter?: ObservationFilter
  ) => Stream.Stream<string, StoreError.DatabaseError>
}

/**
 * The store service key.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const due = Effect.flatMap(Store.Store, (store) => store.dueTargets({ now: Date.now(), limit: 500 }))
 * ```
 *
 * @since 0.1.0
 */
export class Store extends Context.Service<Store, Service>()("@trawl/store/Store") {}

/**
 * Observations written.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const snapshot = Metric.value(Store.observationsWritten)
 * ```
 *
 * @since 0.1.0
 */
export const observationsWritten = Metric.counter("trawl_store_observations_written_total", {
  description: "Observations recorded (replays of known keys excluded)",
  incremental: true
})

/**
 * Alerts raised by change detection.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const snapshot = Metric.value(Store.alertsRaised)
 * ```
 *
 * @since 0.1.0
 */
export const alertsRaised = Metric.counter("trawl_store_alerts_raised_total", {
  description: "Alerts written to the outbox",
  incremental: true
})

/**
 * Observations per write transaction.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Store } from "@trawl/store"
 *
 * const snapshot = Metric.value(Store.batchSize)
 * ```
 *
 * @since 0.1.0
 */
export const batchSize = Metric.histogram("trawl_store_batch_size", {
  description: "Observations recorded per transaction",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 4, count: 8 })
})

// ---------------------------------------------------------------------------
// rows

const num = (value: unknown): number => typeof value === "number" ? value : Number(value)
const numOrNull = (value: unknown): number | null => value === null || value === undefined ? null : num(value)
const strOrNull = (value: unknown): string | null => value === null || value === undefined ? null : String(value)

/**
 * Rows the store wrote itself are already valid: build the classes without
 * parsing them again (parsing costs ~5 µs a row, the whole budget of a
 * 1000-row due-targets read).
 */
const trusted: <Self>(self: new(input: any, options?: any) => Self, fields: object) => Self =
  // effect 4.1 exports `makeClassTrusted` at run time but keeps it out of its
  // types; fall back to the checked constructor should it ever go.
  typeof (Schema as { makeClassTrusted?: unknown }).makeClassTrusted === "function"
    ? (Schema as unknown as { makeClassTrusted: <Self>(self: new(input: any) => Self, fields: object) => Self })
      .makeClassTrusted
    : (self, fields) => new self(fields, { disableChecks: true })

const money = (amount: unknown, currency: unknown): Model.Money | null =>
  amount === null || amount === undefined || currency === null || currency === undefined
    ? null
    : trusted(Model.Money, { amount: String(amount), currency: String(currency) })

/** Targets added at once after which Postgres' statistics of the table are refreshed. */
const analyzeAfter = 1_000

const targetColumns =
  "id, url, host, interval_ms, rules, enabled, next_due_at, failure_streak, etag, last_modified, last_amount, last_currency, last_availability, last_observed_at, created_at, alert_rules, alert_confirm, alert_cooldown_ms, muted_until, group_name, notify"

/** `targets.alert_rules`: canonical rule texts joined by "; ", NULL for none (the defaults). */
const rulesColumn = (rules: ReadonlyArray<string> | null | undefined): string | null =>
  rules === null || rules === undefined || rules.length === 0 ? null : rules.join("; ")

const ruleTexts = (column: unknown): ReadonlyArray<string> =>
  column === null || column === undefined || column === "" ? [] : String(column).split("; ")

/** Channel URLs as given: trimmed, line by line, blank ones and repeats dropped. */
const channelList = (urls: ReadonlyArray<string> | null | undefined): ReadonlyArray<string> =>
  urls === null || urls === undefined
    ? []
    : Array.from(new Set(urls.flatMap((url) => url.split(/[\r\n]+/)).map((url) => url.trim()).filter((url) => url !== "")))

/** `targets.notify` and `groups.notify`: channel URLs one a line, NULL for none. */
const notifyColumn = (urls: ReadonlyArray<string> | null | undefined): string | null => {
  const list = channelList(urls)
  return list.length === 0 ? null : list.join("\n")
}

const channelsOf = (column: unknown): ReadonlyArray<string> =>
  column === null || column === undefined || column === "" ? [] : String(column).split("\n")

const toTarget = (row: Record<string, unknown>): Model.Target =>
  trusted(Model.Target, {
    id: num(row.id),
    url: String(row.url),
    host: String(row.host),
    intervalMillis: num(row.interval_ms),
    rules: row.rules === null || row.rules === undefined ? null : JSON.parse(String(row.rules)),
    enabled: num(row.enabled) === 1,
    nextDueAt: num(row.next_due_at),
    failureStreak: num(row.failure_streak),
    etag: strOrNull(row.etag),
    lastModified: strOrNull(row.last_modified),
    lastPrice: money(row.last_amount, row.last_currency),
    lastAvailability: String(row.last_availability) as Model.Availability,
    lastObservedAt: numOrNull(row.last_observed_at),
    createdAt: num(row.created_at),
    alertRules: ruleTexts(row.alert_rules),
    confirm: num(row.alert_confirm ?? 1),
    cooldownMillis: num(row.alert_cooldown_ms ?? 0),
    mutedUntil: numOrNull(row.muted_until),
    group: strOrNull(row.group_name),
    notify: channelsOf(row.notify)
  })

const observationColumns =
  "o.id, o.target_id, o.run_id, o.observed_at, o.outcome, o.amount, o.currency, o.availability, o.http_status, o.error_tag, o.source, o.confidence, o.content_hash, o.ambiguity"

const toObservation = (row: Record<string, unknown>): Model.Observation =>
  trusted(Model.Observation, {
    id: num(row.id),
    key: `${num(row.target_id)}@${num(row.observed_at)}`,
    targetId: num(row.target_id),
    runId: numOrNull(row.run_id),
    observedAt: num(row.observed_at),
    outcome: String(row.outcome) as Model.Outcome,
    price: money(row.amount, row.currency),
    availability: String(row.availability) as Model.Availability,
    httpStatus: numOrNull(row.http_status),
    errorTag: strOrNull(row.error_tag),
    source: strOrNull(row.source),
    confidence: numOrNull(row.confidence),
    contentHash: strOrNull(row.content_hash),
    ambiguity: ambiguityOf(row.ambiguity)
  })

const decodeAmbiguity = Schema.decodeUnknownExit(Model.Ambiguity)

/** `observations.ambiguity`: JSON written by this store; unreadable (a hand edit) reads as none. */
const ambiguityOf = (column: unknown): Model.Ambiguity | null => {
  if (column === null || column === undefined || column === "") return null
  try {
    const exit = decodeAmbiguity(JSON.parse(String(column)))
    return exit._tag === "Success" ? exit.value : null
  } catch {
    return null
  }
}

const alertColumns =
  "a.id, a.key, a.target_id, t.url, a.observation_id, a.kind, a.old_amount, a.old_currency, a.new_amount, a.new_currency, a.percent, a.failure_streak, a.created_at, a.sent_at, a.product_name, a.rule, a.group_name"

const toAlert = (row: Record<string, unknown>): Model.Alert =>
  trusted(Model.Alert, {
    id: num(row.id),
    key: String(row.key),
    targetId: num(row.target_id),
    url: String(row.url),
    observationId: num(row.observation_id),
    kind: String(row.kind) as Model.AlertKind,
    oldPrice: money(row.old_amount, row.old_currency),
    newPrice: money(row.new_amount, row.new_currency),
    percent: strOrNull(row.percent),
    failureStreak: num(row.failure_streak),
    createdAt: num(row.created_at),
    sentAt: numOrNull(row.sent_at),
    productName: strOrNull(row.product_name),
    rule: strOrNull(row.rule),
    group: strOrNull(row.group_name)
  })

const toRun = (row: Record<string, unknown>): Model.Run =>
  trusted(Model.Run, {
    id: num(row.id),
    startedAt: num(row.started_at),
    finishedAt: numOrNull(row.finished_at),
    status: String(row.status) as Model.Run["status"],
    observations: num(row.observations),
    failures: num(row.failures)
  })

/** What a failed notification said, for the delivery and notifier rows. */
const errorText = (error: unknown): string => {
  let text: string
  if (typeof error === "string") text = error
  else if (typeof error === "object" && error !== null) {
    const { _tag, message } = error as { _tag?: unknown; message?: unknown }
    text = typeof message === "string" && message !== ""
      ? message
      : typeof _tag === "string"
      ? _tag
      : (() => {
        try {
          return JSON.stringify(error) ?? String(error)
        } catch {
          return String(error)
        }
      })()
  } else text = String(error)
  return text.length > 1000 ? text.slice(0, 1000) : text
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const nonEmpty = (rows: ReadonlyArray<object>) =>
  rows as unknown as readonly [Record<string, unknown>, ...Array<Record<string, unknown>>]

/**
 * The name an alert keeps: blank is none, and a long one is cut (never inside
 * a surrogate pair, which would leave half a character).
 */
const productNameOf = (input: Model.ObservationInput): string | null => {
  const name = input.productName?.trim()
  if (name === undefined || name === "") return null
  if (name.length <= Model.productNameMaxLength) return name
  const end = Model.productNameMaxLength
  const high = name.charCodeAt(end - 1)
  return name.slice(0, high >= 0xd800 && high <= 0xdbff ? end - 1 : end)
}

/** The idempotency key of an observation: a target is visited once per millisecond at most. */
const keyOf = (input: Model.ObservationInput): string => `${input.targetId}@${input.observedAt}`

interface LoadedTarget {
  readonly url: string
  readonly intervalMillis: number
  readonly group: string | null
  /** Its alert rules, confirm, cooldown and mute; undefined: the defaults, unmuted (`Detect` alone). */
  readonly policy: Rules.Policy | undefined
  ruleStates: Rules.States
  /** Whether a rule's state moved in this batch: only then is `rule_states` written (most readings move none). */
  rulesMoved: boolean
  state: Detect.TargetState
  nextDueAt: number
  etag: string | null
  lastModified: string | null
  dirty: boolean
}

interface PendingAlert {
  readonly index: number
  readonly key: string
  readonly targetId: number
  readonly url: string
  readonly observationId: number
  readonly productName: string | null
  readonly detected: Detect.DetectedAlert
  readonly rule: string | null
  readonly group: string | null
}

/** A competitor group touched by a batch: its members as they stand, its best offer and its rules. */
interface LoadedGroup {
  readonly name: string
  /** A short hash of the name, for alert keys. */
  readonly key: string
  readonly policy: Rules.Policy | undefined
  ruleStates: Rules.States
  best: number | null
  readonly members: Map<number, Groups.Member>
  dirty: boolean
}

/** Parsed rule lists by their column text: a few distinct lists serve many targets. */
const parsedRules = new Map<string, ReadonlyArray<AlertRule.Rule>>()

const rulesOf = (column: unknown): ReadonlyArray<AlertRule.Rule> => {
  if (column === null || column === undefined || column === "") return AlertRule.defaults
  const text = String(column)
  let rules = parsedRules.get(text)
  if (rules === undefined) {
    // stored rules were validated on the way in; one that no longer parses is skipped, not fatal
    rules = ruleTexts(text).flatMap((rule) => {
      const parsed = AlertRule.parse(rule)
      return Result.isSuccess(parsed) ? [parsed.success] : []
    })
    if (parsedRules.size >= 1024) parsedRules.clear()
    parsedRules.set(text, rules)
  }
  return rules
}

const policyOf = (row: Record<string, unknown>): Rules.Policy | undefined => {
  const confirm = num(row.alert_confirm ?? 1)
  const cooldownMillis = num(row.alert_cooldown_ms ?? 0)
  const mutedUntil = numOrNull(row.muted_until)
  const custom = row.alert_rules !== null && row.alert_rules !== undefined && row.alert_rules !== ""
  if (!custom && confirm <= 1 && cooldownMillis === 0 && mutedUntil === null) return undefined
  return { rules: rulesOf(row.alert_rules), confirm, cooldownMillis, mutedUntil }
}

/** The first alert rule of `changes` that is not a rule in canonical form, as the store's error. */
const invalidRule = (changes: { readonly alertRules?: ReadonlyArray<string> | null | undefined }) => {
  const invalid = changes.alertRules?.find((text) => !Schema.is(AlertRule.RuleText)(text))
  return invalid === undefined ? undefined : new StoreError.InvalidAlertRule({ rule: invalid })
}

/** A group name as an alert key's part: short, stable, free of whatever the name holds. */
const groupKey = (name: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0
  return hash.toString(16).padStart(8, "0")
}


/** The alerts `Detect` raises whatever a target's rules: they are about the target's page, not its price. */
const alwaysRaised = (kind: Model.AlertKind) => kind === "first_seen" || kind === "extraction_broken" || kind === "price_ambiguous"

const exportColumns = [
  "id",
  "key",
  "targetId",
  "url",
  "observedAt",
  "outcome",
  "amount",
  "currency",
  "availability",
  "httpStatus",
  "errorTag",
  "source",
  "confidence",
  "contentHash",
  // last, so a reader by position of an older export keeps working
  "group"
] as const

const csvField = (value: unknown): string => {
  if (value === null || value === undefined) return ""
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, "\"\"")}"` : text
}

// ---------------------------------------------------------------------------
// the service

/**
 * Builds the store over the `SqlClient` in context: refuses a database whose
 * schema is newer than this code, runs pending migrations, and returns the
 * service.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { SqliteClient, Store } from "@trawl/store"
 *
 * const StoreLive = Layer.effect(Store.Store, Store.make({ database: "./trawl.db" })).pipe(
 *   Layer.provide(SqliteClient.layer({ filename: "./trawl.db" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  options: StoreOptions = {}
): Effect.Effect<Service, StoreError.SchemaTooNew | StoreError.DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialectOrElse({ pg: () => "pg", sqlite: () => "sqlite", orElse: () => "other" })
    const database = options.database ?? (dialect === "pg" ? "postgres" : "database")
    const brokenAfter = Math.max(1, options.brokenAfter ?? 3)
    const ambiguousAfter = Math.max(1, options.ambiguousAfter ?? 3)
    const chunkSize = Math.max(1, Math.min(options.chunkSize ?? 500, 2000))
    const hook = options.betweenStatements ?? (() => Effect.void)
    const failed = (operation: string) => (error: SqlError.SqlError | unknown) =>
      StoreError.fromSqlError(error, database, operation)

    // A transaction whose connection is lost fails its ROLLBACK too, and
    // effect/sql turns that into a defect carrying the SqlError: the server
    // rolled the transaction back (the connection is gone), so it is the
    // failure it reports, typed, for the caller to retry.
    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError.SqlError, R> =>
      sql.withTransaction(effect).pipe(
        Effect.catchDefect((defect) => SqlError.isSqlError(defect) ? Effect.fail(defect) : Effect.die(defect))
      )

    const found = yield* Effect.mapError(Migrations.currentVersion, failed("open"))
    if (found > Migrations.latest) {
      return yield* new StoreError.SchemaTooNew({ database, found, supported: Migrations.latest })
    }
    const applied = yield* Effect.mapError(
      Migrations.run,
      (error) => failed("migrate")(error._tag === "MigrationError" && error.cause !== undefined ? error.cause : error)
    )
    if (applied.length > 0) {
      yield* Effect.logInfo(`store migrated to schema ${Migrations.latest}`).pipe(
        Effect.annotateLogs({ database, applied: applied.map(([id, name]) => `${id}_${name}`).join(",") })
      )
    }

    const validate = (target: Model.NewTarget) => {
      const checked = Url.validateUrl(target.url)
      return "reason" in checked
        ? Effect.fail(new StoreError.InvalidUrl({ url: target.url, reason: checked.reason }))
        : Effect.succeed(checked)
    }

    const insertTargets = (
      targets: ReadonlyArray<Model.NewTarget>,
      returning: boolean
    ): Effect.Effect<
      { readonly inserted: ReadonlyArray<Model.Target>; readonly count: number },
      StoreError.InvalidUrl | StoreError.DuplicateTarget | StoreError.DatabaseError
    > =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows: Array<Record<string, unknown>> = []
        const seen = new Set<string>()
        for (const target of targets) {
          const { host, url } = yield* validate(target)
          if (seen.has(url)) return yield* new StoreError.DuplicateTarget({ url })
          seen.add(url)
          rows.push({
            url,
            host,
            interval_ms: target.intervalMillis,
            rules: target.rules === undefined ? null : JSON.stringify(target.rules),
            enabled: target.enabled === false ? 0 : 1,
            next_due_at: target.dueAt ?? now,
            created_at: now,
            alert_rules: rulesColumn(target.alertRules),
            alert_confirm: target.confirm ?? 1,
            alert_cooldown_ms: target.cooldownMillis ?? 0,
            group_name: target.group ?? null,
            notify: notifyColumn(target.notify)
          })
        }
        const inserted: Array<Model.Target> = []
        let count = 0
        yield* transaction(Effect.gen(function*() {
          for (const chunk of chunks(rows, chunkSize)) {
            const existing = yield* sql<{ url: string }>`SELECT url FROM targets WHERE ${
              sql.in("url", chunk.map((row) => row.url))
            } LIMIT 1`
            if (existing.length > 0) return yield* new StoreError.DuplicateTarget({ url: String(existing[0]!.url) })
            const insert = sql.insert(nonEmpty(chunk))
            if (returning) {
              const rows = yield* sql`INSERT INTO targets ${insert} RETURNING ${sql.literal(targetColumns)}`
              for (const row of rows) inserted.push(toTarget(row))
            } else {
              yield* sql`INSERT INTO targets ${insert}`
            }
            count += chunk.length
          }
        })).pipe(
          Effect.catchTag("SqlError", (error): Effect.Effect<never, StoreError.DuplicateTarget | StoreError.DatabaseError> =>
            error.reason._tag === "UniqueViolation" && rows.length === 1
              ? Effect.fail(new StoreError.DuplicateTarget({ url: String(rows[0]!.url) }))
              : Effect.fail(failed("addTargets")(error)))
        )
        return { inserted, count }
      })

    const addTarget = (target: Model.NewTarget) =>
      Effect.map(insertTargets([target], true), ({ inserted }) => inserted[0]!).pipe(
        Effect.withSpan("Store.addTarget")
      )

    const addTargets = (targets: ReadonlyArray<Model.NewTarget>) =>
      targets.length === 0
        ? Effect.succeed(0)
        : Effect.flatMap(insertTargets(targets, false), ({ count }) =>
          count >= analyzeAfter && dialect === "pg" ? Effect.as(analyzeTargets, count) : Effect.succeed(count)).pipe(
            Effect.withSpan("Store.addTargets")
          )

    // Postgres plans with the statistics autovacuum gathers about a minute after a bulk
    // import; until then it guesses a handful of rows, and a search over 100,000 fresh
    // targets sorted all 25,000 matches for a page (39 ms, not 3: EXPLAIN, bench:api).
    // A large import refreshes them at once (~50 ms; a failure only leaves them stale).
    const analyzeTargets = sql`ANALYZE targets`.pipe(
      Effect.catch((error) => Effect.logWarning(`ANALYZE targets after an import failed: ${error.message}`)),
      Effect.asVoid
    )

    const getTarget = (id: number) =>
      sql`SELECT ${sql.literal(targetColumns)} FROM targets WHERE id = ${id}`.pipe(
        Effect.mapError(failed("getTarget")),
        Effect.flatMap((rows) =>
          rows.length === 0 ? Effect.fail(new StoreError.TargetNotFound({ id })) : Effect.succeed(toTarget(rows[0]!))
        )
      )

    const group = (name: string) =>
      Effect.gen(function*() {
        const members = yield* sql`SELECT ${sql.literal(targetColumns)} FROM targets WHERE group_name = ${name} ORDER BY id`
        if (members.length === 0) return Option.none<Model.Group>()
        const [row] = yield* sql`SELECT name, alert_rules, alert_confirm, alert_cooldown_ms, muted_until, notify FROM groups WHERE name = ${name}`
        const targets = members.map(toTarget)
        const comparison = Groups.compare(
          targets.map((target) => ({
            id: target.id,
            url: target.url,
            amount: target.lastPrice?.amount ?? null,
            currency: target.lastPrice?.currency ?? null,
            availability: target.lastAvailability
          })),
          options.rates
        )
        return Option.some(trusted(Model.Group, {
          name,
          offers: targets.map((target) =>
            trusted(Model.GroupOffer, {
              targetId: target.id,
              url: target.url,
              host: target.host,
              price: target.lastPrice,
              availability: target.lastAvailability,
              lastObservedAt: target.lastObservedAt,
              compared: comparison.inCurrency.get(target.id) ?? null
            })
          ),
          currency: comparison.currency,
          ratesDate: comparison.ratesDate,
          best: comparison.best?.id ?? null,
          alertRules: ruleTexts(row?.alert_rules),
          confirm: num(row?.alert_confirm ?? 1),
          cooldownMillis: num(row?.alert_cooldown_ms ?? 0),
          mutedUntil: numOrNull(row?.muted_until),
          notify: channelsOf(row?.notify)
        }))
      }).pipe(Effect.mapError(failed("group")))

    /** The columns a target and a group share: alert rules, confirm, cooldown, mute and channels. */
    const alertingSets = (changes: Pick<TargetChanges, "alertRules" | "confirm" | "cooldownMillis" | "mutedUntil" | "notify">) => {
      const sets = []
      if (changes.alertRules !== undefined) sets.push(sql`alert_rules = ${rulesColumn(changes.alertRules)}`)
      if (changes.confirm !== undefined) sets.push(sql`alert_confirm = ${Math.min(100, Math.max(1, Math.floor(changes.confirm)))}`)
      if (changes.cooldownMillis !== undefined) sets.push(sql`alert_cooldown_ms = ${Math.max(0, Math.floor(changes.cooldownMillis))}`)
      if (changes.mutedUntil !== undefined) sets.push(sql`muted_until = ${changes.mutedUntil === null ? null : Math.floor(changes.mutedUntil)}`)
      if (changes.notify !== undefined) sets.push(sql`notify = ${notifyColumn(changes.notify)}`)
      return sets
    }

    const updateGroup = (
      name: string,
      changes: Pick<TargetChanges, "alertRules" | "confirm" | "cooldownMillis" | "mutedUntil" | "notify">
    ) =>
      Effect.gen(function*() {
        const invalid = invalidRule(changes)
        if (invalid !== undefined) return yield* invalid
        yield* sql`INSERT INTO groups (name) VALUES (${name}) ON CONFLICT (name) DO NOTHING`.pipe(Effect.mapError(failed("updateGroup")))
        const sets = alertingSets(changes)
        if (sets.length > 0) yield* sql`UPDATE groups SET ${sql.csv(sets)} WHERE name = ${name}`.pipe(Effect.mapError(failed("updateGroup")))
        const found = yield* group(name)
        if (Option.isSome(found)) return found.value
        // a group nobody is in yet: its settings, no offers
        return trusted(Model.Group, {
          name,
          offers: [],
          currency: null,
          ratesDate: options.rates?.date ?? null,
          best: null,
          alertRules: changes.alertRules ?? [],
          confirm: changes.confirm ?? 1,
          cooldownMillis: changes.cooldownMillis ?? 0,
          mutedUntil: changes.mutedUntil ?? null,
          notify: channelList(changes.notify)
        })
      })

    const channels = Effect.gen(function*() {
      const rows = yield* sql<{ notify: unknown }>`SELECT notify FROM targets WHERE notify IS NOT NULL UNION SELECT notify FROM groups WHERE notify IS NOT NULL`
      return Array.from(new Set(rows.flatMap((row) => channelsOf(row.notify)))).sort()
    }).pipe(Effect.mapError(failed("channels")))

    const channelRoutes = Effect.gen(function*() {
      const groupRows = yield* sql`SELECT name, notify FROM groups WHERE notify IS NOT NULL`
      const groups = new Map(groupRows.map((row) => [String(row.name), channelsOf(row.notify)] as const))
      const targets = new Map<number, ReadonlyArray<string>>()
      // the targets naming channels of their own (index targets_notify), then the members of groups that do (targets_group)
      for (const row of yield* sql`SELECT id, notify, group_name FROM targets WHERE notify IS NOT NULL`) {
        const group = row.group_name === null || row.group_name === undefined ? [] : groups.get(String(row.group_name)) ?? []
        targets.set(num(row.id), Array.from(new Set([...channelsOf(row.notify), ...group])))
      }
      const named = Array.from(groups.keys())
      for (const chunk of chunks(named, chunkSize)) {
        for (const row of yield* sql`SELECT id, group_name FROM targets WHERE notify IS NULL AND ${sql.in("group_name", chunk)}`) {
          targets.set(num(row.id), groups.get(String(row.group_name))!)
        }
      }
      return { targets, groups } satisfies ChannelRoutes
    }).pipe(Effect.mapError(failed("channelRoutes")))

    const targetByUrl = (url: string) =>
      sql`SELECT ${sql.literal(targetColumns)} FROM targets WHERE url = ${url}`.pipe(
        Effect.map((rows) => rows.length === 0 ? Option.none() : Option.some(toTarget(rows[0]!))),
        Effect.mapError(failed("targetByUrl"))
      )

    const changeOne = (operation: string, id: number, statement: Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>) =>
      statement.pipe(
        Effect.mapError(failed(operation)),
        Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(new StoreError.TargetNotFound({ id })) : Effect.void)
      )

    const setEnabled = (id: number, enabled: boolean) => Effect.asVoid(applyChanges(id, { enabled }))

    const targetsRevision = sql<{ revision: unknown }>`SELECT revision FROM targets_revision WHERE id = 1`.pipe(
      Effect.map((rows) => num(rows[0]?.revision ?? 0)),
      Effect.mapError(failed("targetsRevision"))
    )

    const removeTarget = (id: number) =>
      changeOne("removeTarget", id, sql`DELETE FROM targets WHERE id = ${id} RETURNING id`)

    const updateTarget = (id: number, changes: TargetChanges) => {
      const invalid = invalidRule(changes)
      return invalid === undefined ? applyChanges(id, changes) : Effect.fail(invalid)
    }

    const applyChanges = (id: number, changes: TargetChanges) =>
      Effect.gen(function*() {
        const sets = []
        if (changes.enabled !== undefined) sets.push(sql`enabled = ${changes.enabled ? 1 : 0}`)
        if (changes.intervalMillis !== undefined) sets.push(sql`interval_ms = ${Math.floor(changes.intervalMillis)}`)
        if (changes.rules !== undefined) sets.push(sql`rules = ${changes.rules === null ? null : JSON.stringify(changes.rules)}`)
        if (changes.group !== undefined) sets.push(sql`group_name = ${changes.group}`)
        sets.push(...alertingSets(changes))
        if (sets.length === 0) return yield* getTarget(id)
        // back to the defaults: the rules' states go (a rule set again later starts afresh)
        if (changes.alertRules === null || changes.alertRules?.length === 0) {
          yield* sql`DELETE FROM rule_states WHERE target_id = ${id}`.pipe(Effect.mapError(failed("updateTarget")))
        }
        const rows = yield* sql`UPDATE targets SET ${sql.csv(sets)} WHERE id = ${id} RETURNING ${sql.literal(targetColumns)}`.pipe(
          Effect.mapError(failed("updateTarget"))
        )
        if (rows.length === 0) return yield* new StoreError.TargetNotFound({ id })
        return toTarget(rows[0]!)
      })

    const dueTargets = ({ limit, now }: { readonly now: number; readonly limit: number }) =>
      sql`SELECT ${sql.literal(targetColumns)} FROM targets WHERE enabled = 1 AND next_due_at <= ${
        Math.floor(now)
      } ORDER BY next_due_at, id LIMIT ${Math.max(0, Math.floor(limit))}`.pipe(
        Effect.map((rows) => rows.map(toTarget)),
        Effect.mapError(failed("dueTargets"))
      )

    /**
     * The groups of a batch's targets, locked (Postgres) after their targets and
     * in name order, then their members: every writer takes locks in one order,
     * and sees the members another writer committed before it got the lock.
     */
    const loadGroups = (targets: ReadonlyMap<number, LoadedTarget>) =>
      Effect.gen(function*() {
        const groups = new Map<string, LoadedGroup>()
        const names = Array.from(new Set(Array.from(targets.values()).flatMap((target) => target.group === null ? [] : [target.group]))).sort()
        if (names.length === 0) return groups
        for (const chunk of chunks(names, chunkSize)) {
          yield* sql`INSERT INTO groups ${sql.insert(nonEmpty(chunk.map((name) => ({ name }))))} ON CONFLICT (name) DO NOTHING`
          const rows = yield* sql`SELECT name, alert_rules, alert_confirm, alert_cooldown_ms, muted_until, rule_state, best_target_id FROM groups WHERE ${
            sql.in("name", chunk)
          } ORDER BY name${sql.literal(dialect === "pg" ? " FOR UPDATE" : "")}`
          for (const row of rows) {
            const name = String(row.name)
            // a group has no rules of its own unless given: its members alert by theirs
            const policy = row.alert_rules === null || row.alert_rules === undefined || row.alert_rules === "" ? undefined : policyOf(row)
            groups.set(name, {
              name,
              key: groupKey(name),
              policy,
              ruleStates: policy === undefined ? {} : Rules.decodeStates(strOrNull(row.rule_state)),
              best: numOrNull(row.best_target_id),
              members: new Map(),
              dirty: false
            })
          }
          const members = yield* sql`SELECT id, url, group_name, last_amount, last_currency, last_availability FROM targets WHERE ${sql.in("group_name", chunk)}`
          for (const row of members) {
            groups.get(String(row.group_name))?.members.set(num(row.id), {
              id: num(row.id),
              url: String(row.url),
              amount: strOrNull(row.last_amount),
              currency: strOrNull(row.last_currency),
              availability: String(row.last_availability) as Model.Availability
            })
          }
        }
        return groups
      })

    /**
     * A member's new reading through its group: `cheapest_changed` when the shop
     * with the best in-stock offer is another one, and the group's own rules on
     * the best price (in the rates' base currency, or the group's usual one). A
     * shop's first reading joins the comparison without a `cheapest_changed`
     * (it is the shop's `first_seen`): a new group fills up without a flurry.
     */
    const groupReading = (group: LoadedGroup, targetId: number, state: Detect.TargetState, observedAt: number, first: boolean) => {
      const previous = Groups.compare(Array.from(group.members.values()), options.rates)
      const member = group.members.get(targetId)
      if (member !== undefined) {
        group.members.set(targetId, { ...member, amount: state.amount, currency: state.currency, availability: state.availability })
      }
      const now = Groups.compare(Array.from(group.members.values()), options.rates)
      const raised: Array<{ readonly detected: Detect.DetectedAlert & { readonly rule?: string }; readonly targetId: number; readonly url: string }> = []
      const muted = group.policy?.mutedUntil != null && observedAt < group.policy.mutedUntil
      const best = now.best
      if (best !== null && best.id !== group.best) {
        const before = group.best === null ? undefined : group.members.get(group.best)
        const oldAmount = before === undefined ? null : previous.inCurrency.get(before.id) ?? null
        const newAmount = now.inCurrency.get(best.id) ?? null
        if (group.best !== null && !muted && !first) {
          raised.push({
            targetId: best.id,
            url: best.url,
            detected: {
              kind: "cheapest_changed",
              oldAmount,
              oldCurrency: oldAmount === null ? null : previous.currency,
              newAmount,
              newCurrency: now.currency,
              percent: oldAmount !== null && newAmount !== null && previous.currency === now.currency
                ? Decimal.percentChange(oldAmount, newAmount) ?? null
                : null,
              failureStreak: 0
            }
          })
        }
        group.best = best.id
        group.dirty = true
      }
      if (group.policy !== undefined) {
        const reading = (comparison: Groups.Comparison): Rules.Reading => {
          const offer = comparison.best === null ? null : comparison.inCurrency.get(comparison.best.id) ?? null
          const known = Array.from(group.members.values()).some((m) => m.availability !== "unknown")
          return {
            observedAt,
            amount: offer,
            currency: offer === null ? null : comparison.currency,
            availability: comparison.best !== null ? "in_stock" : known ? "out_of_stock" : "unknown"
          }
        }
        const evaluated = Rules.evaluate(group.policy, group.ruleStates, reading(now), reading(previous))
        group.ruleStates = evaluated.states
        group.dirty = true
        const at = best ?? group.members.get(targetId)
        for (const fired of evaluated.fired) {
          raised.push({ targetId: at?.id ?? targetId, url: at?.url ?? "", detected: { ...fired, failureStreak: 0 } })
        }
      }
      return raised
    }

    const record = (batch: ReadonlyArray<Model.ObservationInput>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // 1. the targets' current state
        const targets = new Map<number, LoadedTarget>()
        // Sorted, and locked on Postgres: concurrent writers (several
        // processes) then take target locks in one order, never deadlock, and
        // each sees the state the other committed: no duplicate alert.
        const ids = Array.from(new Set(batch.map((input) => input.targetId))).sort((a, b) => a - b)
        for (const chunk of chunks(ids, chunkSize)) {
          const rows = yield* sql`SELECT id, url, interval_ms, failure_streak, last_amount, last_currency, last_availability, last_observed_at, next_due_at, etag, last_modified, alert_rules, alert_confirm, alert_cooldown_ms, muted_until, (SELECT state FROM rule_states WHERE target_id = targets.id) AS rule_state, ambiguous_streak, group_name FROM targets WHERE ${
            sql.in("id", chunk)
          } ORDER BY id${sql.literal(dialect === "pg" ? " FOR UPDATE" : "")}`
          for (const row of rows) {
            const policy = policyOf(row)
            targets.set(num(row.id), {
              url: String(row.url),
              intervalMillis: num(row.interval_ms),
              group: strOrNull(row.group_name),
              policy,
              ruleStates: policy === undefined ? {} : Rules.decodeStates(strOrNull(row.rule_state)),
              rulesMoved: false,
              state: {
                amount: strOrNull(row.last_amount),
                currency: strOrNull(row.last_currency),
                availability: String(row.last_availability) as Model.Availability,
                failureStreak: num(row.failure_streak),
                ambiguousStreak: num(row.ambiguous_streak ?? 0),
                lastObservedAt: numOrNull(row.last_observed_at)
              },
              nextDueAt: num(row.next_due_at),
              etag: strOrNull(row.etag),
              lastModified: strOrNull(row.last_modified),
              dirty: false
            })
          }
        }
        for (const id of ids) {
          if (!targets.has(id)) return yield* new StoreError.TargetNotFound({ id })
        }
        const groups = yield* loadGroups(targets)
        yield* hook("targets-read")

        // 2. the observations; ones recorded before (same target and time) are skipped by the database
        const keys = batch.map(keyOf)
        const rows = batch.map((input) => ({
          target_id: input.targetId,
          run_id: input.runId ?? null,
          observed_at: input.observedAt,
          outcome: input.outcome,
          amount: input.price?.amount ?? null,
          currency: input.price?.currency ?? null,
          availability: input.availability ?? "unknown",
          http_status: input.httpStatus ?? null,
          error_tag: input.errorTag ?? null,
          source: input.source ?? null,
          confidence: input.confidence ?? null,
          content_hash: input.contentHash ?? null,
          ambiguity: input.ambiguity == null ? null : JSON.stringify(Schema.encodeSync(Model.Ambiguity)(input.ambiguity))
        }))
        const observationIds = new Map<string, number>()
        for (const chunk of chunks(rows, chunkSize)) {
          const returned = yield* sql<{ id: unknown; target_id: unknown; observed_at: unknown }>`INSERT INTO observations ${
            sql.insert(nonEmpty(chunk))
          } ON CONFLICT (target_id, observed_at) DO NOTHING RETURNING id, target_id, observed_at`
          for (const row of returned) observationIds.set(`${num(row.target_id)}@${num(row.observed_at)}`, num(row.id))
        }
        yield* hook("observations-inserted")

        // 3. change detection, in input order
        const pending: Array<PendingAlert> = []
        const results: Array<{ key: string; observationId: number | null; inserted: boolean }> = []
        for (let index = 0; index < batch.length; index++) {
          const input = batch[index]!
          const key = keys[index]!
          const observationId = observationIds.get(key)
          if (observationId === undefined) {
            results.push({ key, observationId: null, inserted: false })
            continue
          }
          // A key repeated within the batch was inserted once: only its first use counts.
          observationIds.delete(key)
          results.push({ key, observationId, inserted: true })
          const target = targets.get(input.targetId)!
          const before = target.state
          const { alerts: detected, next } = Detect.detect(before, {
            outcome: input.outcome,
            observedAt: input.observedAt,
            amount: input.price?.amount ?? null,
            currency: input.price?.currency ?? null,
            availability: input.availability ?? "unknown"
          }, brokenAfter, ambiguousAfter)
          target.state = next
          let alerts: ReadonlyArray<Detect.DetectedAlert & { readonly rule?: string }> = detected
          if (target.policy !== undefined) {
            const muted = target.policy.mutedUntil !== null && input.observedAt < target.policy.mutedUntil
            const kept = muted ? [] : detected.filter((alert) => alwaysRaised(alert.kind))
            // an "unchanged" visit (304, same content) is the last reading again: it counts toward confirm
            const reading: Rules.Reading | undefined = input.outcome === "ok"
              ? { observedAt: input.observedAt, amount: input.price?.amount ?? null, currency: input.price?.currency ?? null, availability: input.availability ?? "unknown" }
              : input.outcome === "unchanged" && before.lastObservedAt !== null
              ? { observedAt: input.observedAt, amount: before.amount, currency: before.currency, availability: before.availability }
              : undefined
            if (reading !== undefined) {
              const last: Rules.Reading | null = before.lastObservedAt === null
                ? null
                : { observedAt: before.lastObservedAt, amount: before.amount, currency: before.currency, availability: before.availability }
              const evaluated = Rules.evaluate(target.policy, target.ruleStates, reading, last)
              if (evaluated.changed) {
                target.ruleStates = evaluated.states
                target.rulesMoved = true
              }
              alerts = [...kept, ...evaluated.fired.map((fired) => ({ ...fired, failureStreak: 0 }))]
            } else {
              alerts = kept
            }
          }
          target.nextDueAt = input.nextDueAt ?? input.observedAt + target.intervalMillis
          if (input.etag !== undefined) target.etag = input.etag
          if (input.lastModified !== undefined) target.lastModified = input.lastModified
          target.dirty = true
          const group = target.group === null || input.outcome !== "ok" ? undefined : groups.get(target.group)
          const groupAlerts = group === undefined ? [] : groupReading(group, input.targetId, target.state, input.observedAt, before.lastObservedAt === null)
          const productName = alerts.length === 0 && groupAlerts.length === 0 ? null : productNameOf(input)
          for (const { detected, targetId, url } of groupAlerts) {
            const rule = detected.rule ?? null
            pending.push({
              index,
              key: `g${group!.key}-o${observationId}-${detected.kind}${rule === null ? "" : `-${rule.replaceAll(" ", "_")}`}`,
              targetId,
              url,
              observationId,
              productName,
              detected,
              rule,
              group: group!.name
            })
          }
          for (const detected of alerts) {
            const rule = detected.rule ?? null
            pending.push({
              index,
              // a rule's alert is keyed by its rule too: two thresholds may fire on one reading
              key: rule === null ? `t${input.targetId}-o${observationId}-${detected.kind}` : `t${input.targetId}-o${observationId}-${detected.kind}-${rule.replaceAll(" ", "_")}`,
              targetId: input.targetId,
              url: target.url,
              observationId,
              productName,
              detected,
              rule,
              group: null
            })
          }
        }

        // 4. the alerts
        const alertIds = new Map<string, number>()
        for (const chunk of chunks(pending, chunkSize)) {
          const returned = yield* sql<{ id: unknown; key: string }>`INSERT INTO alerts ${
            sql.insert(nonEmpty(chunk.map((alert) => ({
              key: alert.key,
              target_id: alert.targetId,
              observation_id: alert.observationId,
              kind: alert.detected.kind,
              old_amount: alert.detected.oldAmount,
              old_currency: alert.detected.oldCurrency,
              new_amount: alert.detected.newAmount,
              new_currency: alert.detected.newCurrency,
              percent: alert.detected.percent,
              failure_streak: alert.detected.failureStreak,
              created_at: now,
              product_name: alert.productName,
              rule: alert.rule,
              group_name: alert.group
            }))))
          } ON CONFLICT (key) DO NOTHING RETURNING id, key`
          for (const row of returned) alertIds.set(String(row.key), num(row.id))
        }
        yield* hook("alerts-inserted")

        // 5. the targets' new state. Postgres joins the whole chunk in one
        // statement; SQLite would plan that join as a scan of targets, so it
        // gets one primary-key update per target (microseconds each, in-process).
        const dirty = Array.from(targets.entries()).filter(([, target]) => target.dirty)
        if (dialect === "pg") {
          for (const chunk of chunks(dirty, chunkSize)) {
            const values = chunk.map(([id, target]) =>
              sql`(${id}, ${target.state.failureStreak}, ${target.state.amount}, ${target.state.currency}, ${target.state.availability}, ${target.state.lastObservedAt}, ${target.nextDueAt}, ${target.etag}, ${target.lastModified}, ${target.state.ambiguousStreak})`
            )
            yield* sql`UPDATE targets SET
              failure_streak = CAST(v.column2 AS INTEGER),
              last_amount = CAST(v.column3 AS TEXT),
              last_currency = CAST(v.column4 AS TEXT),
              last_availability = CAST(v.column5 AS TEXT),
              last_observed_at = CAST(v.column6 AS BIGINT),
              next_due_at = CAST(v.column7 AS BIGINT),
              etag = CAST(v.column8 AS TEXT),
              last_modified = CAST(v.column9 AS TEXT),
              ambiguous_streak = CAST(v.column10 AS INTEGER)
            FROM (VALUES ${sql.csv(values)}) AS v
            WHERE targets.id = CAST(v.column1 AS BIGINT)`
          }
        } else {
          // One step for the whole batch (one message to a worker-backed client).
          yield* Sqlite.executeBatch(
            sql,
            dirty.map(([id, target]) =>
              sql`UPDATE targets SET failure_streak = ${target.state.failureStreak}, last_amount = ${target.state.amount}, last_currency = ${target.state.currency}, last_availability = ${target.state.availability}, last_observed_at = ${target.state.lastObservedAt}, next_due_at = ${target.nextDueAt}, etag = ${target.etag}, last_modified = ${target.lastModified}, ambiguous_streak = ${target.state.ambiguousStreak} WHERE id = ${id}`
            )
          )
        }
        // rule states live beside the targets, written only when one moved: a reading that moves
        // none (most) rewrites no more than a target without rules (bench: store rules)
        const moved = dirty.filter(([, target]) => target.rulesMoved)
        for (const chunk of chunks(moved, chunkSize)) {
          yield* sql`INSERT INTO rule_states ${
            sql.insert(nonEmpty(chunk.map(([id, target]) => ({ target_id: id, state: Rules.encodeStates(target.ruleStates) }))))
          } ON CONFLICT (target_id) DO UPDATE SET state = excluded.state`
        }
        for (const group of groups.values()) {
          if (!group.dirty) continue
          yield* sql`UPDATE groups SET best_target_id = ${group.best}, rule_state = ${
            group.policy === undefined ? null : Rules.encodeStates(group.ruleStates)
          } WHERE name = ${group.name}`
        }
        yield* hook("targets-updated")

        const byIndex = new Map<number, Array<Model.Alert>>()
        for (const alert of pending) {
          const id = alertIds.get(alert.key)
          if (id === undefined) continue
          const list = byIndex.get(alert.index) ?? []
          list.push(
            trusted(Model.Alert, {
              id,
              key: alert.key,
              targetId: alert.targetId,
              url: alert.url,
              observationId: alert.observationId,
              kind: alert.detected.kind,
              oldPrice: money(alert.detected.oldAmount, alert.detected.oldCurrency),
              newPrice: money(alert.detected.newAmount, alert.detected.newCurrency),
              percent: alert.detected.percent,
              failureStreak: alert.detected.failureStreak,
              createdAt: now,
              sentAt: null,
              productName: alert.productName,
              rule: alert.rule,
              group: alert.group
            })
          )
          byIndex.set(alert.index, list)
        }
        const written = results.filter((result) => result.inserted).length
        return {
          results: results.map((result, index) => trusted(Model.RecordResult, { ...result, alerts: byIndex.get(index) ?? [] })),
          written,
          alerts: alertIds.size
        }
      })

    const recordObservations = (batch: ReadonlyArray<Model.ObservationInput>) =>
      batch.length === 0
        ? Effect.succeed([])
        : transaction(record(batch)).pipe(
          Effect.mapError((error) => error._tag === "TargetNotFound" ? error : failed("recordObservations")(error)),
          Effect.tap(({ alerts, written }) =>
            Effect.all([
              Metric.update(observationsWritten, written),
              Metric.update(alertsRaised, alerts),
              Metric.update(batchSize, batch.length)
            ], { discard: true })
          ),
          Effect.map(({ results }) => results),
          Effect.withSpan("Store.recordObservations", { attributes: { "trawl.batch.size": batch.length } })
        )

    const history = (
      targetId: number,
      options: { readonly since?: number | undefined; readonly until?: number | undefined; readonly limit?: number | undefined } = {}
    ) =>
      sql`SELECT ${sql.literal(observationColumns)} FROM observations o WHERE o.target_id = ${targetId} AND o.observed_at >= ${
        Math.floor(options.since ?? 0)
      }${options.until === undefined ? sql.literal("") : sql` AND o.observed_at < ${Math.floor(options.until)}`} ORDER BY o.observed_at DESC, o.id DESC LIMIT ${
        Math.max(0, Math.floor(options.limit ?? 1000))
      }`.pipe(
        Effect.map((rows) => rows.map(toObservation)),
        Effect.mapError(failed("history"))
      )

    const searchTargets = (options: { readonly query?: string | undefined; readonly offset: number; readonly limit: number }) =>
      Effect.gen(function*() {
        // The query's own % and _ are matched as themselves. SQLite's LIKE ignores case already
        // (ASCII letters); Postgres matches the lowered query against the lowered URL kept in
        // url_search (migration 5; ILIKE took 1.4x as long as lower() on both sides, bench:api).
        const query = options.query?.trim() ?? ""
        const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
        const where = query === ""
          ? sql.literal("")
          : dialect === "pg"
          ? sql` WHERE url_search LIKE ${pattern.toLowerCase()} ESCAPE '\\'`
          : sql` WHERE url LIKE ${pattern} ESCAPE '\\'`
        // two statements, not a count(*) OVER () beside each row: that kept every match's whole
        // row until the end (bench:api, 25,000 matches of 100,000: SQLite 18 → 49 ms, Postgres 70 → 132)
        const [count] = yield* sql<{ total: unknown }>`SELECT count(*) AS total FROM targets${where}`
        const rows = yield* sql`SELECT ${sql.literal(targetColumns)} FROM targets${where} ORDER BY id LIMIT ${
          Math.max(0, Math.floor(options.limit))
        } OFFSET ${Math.max(0, Math.floor(options.offset))}`
        return { total: num(count?.total ?? 0), targets: rows.map(toTarget) } satisfies TargetPage
      }).pipe(Effect.mapError(failed("searchTargets")))

    const alerts = (options: {
      readonly since?: number | undefined
      readonly kind?: Model.AlertKind | undefined
      readonly targetId?: number | undefined
      readonly limit: number
    }) => {
      const clauses = [sql`a.created_at >= ${Math.floor(options.since ?? 0)}`]
      if (options.kind !== undefined) clauses.push(sql`a.kind = ${options.kind}`)
      if (options.targetId !== undefined) clauses.push(sql`a.target_id = ${options.targetId}`)
      return sql`SELECT ${sql.literal(alertColumns)} FROM alerts a JOIN targets t ON t.id = a.target_id WHERE ${
        sql.and(clauses)
      } ORDER BY a.created_at DESC, a.id DESC LIMIT ${Math.max(0, Math.floor(options.limit))}`.pipe(
        Effect.map((rows) => rows.map(toAlert)),
        Effect.mapError(failed("alerts"))
      )
    }

    const statusCounts = (now: number) =>
      sql`SELECT
        (SELECT count(*) FROM targets) AS targets,
        (SELECT count(*) FROM targets WHERE enabled = 1) AS enabled,
        (SELECT count(*) FROM targets WHERE enabled = 1 AND next_due_at <= ${Math.floor(now)}) AS due,
        (SELECT count(*) FROM targets WHERE failure_streak > 0) AS failing,
        (SELECT count(*) FROM observations) AS observations,
        (SELECT count(*) FROM alerts WHERE sent_at IS NULL) AS alerts_pending,
        (SELECT count(*) FROM alerts WHERE sent_at IS NOT NULL) AS alerts_sent,
        (SELECT count(*) FROM runs) AS runs`.pipe(
        Effect.map(([row]) =>
          new Model.StatusCounts({
            targets: num(row!.targets),
            enabled: num(row!.enabled),
            due: num(row!.due),
            failing: num(row!.failing),
            observations: num(row!.observations),
            alertsPending: num(row!.alerts_pending),
            alertsSent: num(row!.alerts_sent),
            runs: num(row!.runs)
          })
        ),
        Effect.mapError(failed("statusCounts"))
      )

    // Alert ids come from a sequence and commit out of order on Postgres: a
    // writer may still hold id 10 uncommitted when id 11 is visible. Before a
    // notifier's watermark is set from what is visible, wait for the writers
    // in flight (and keep new ones out for the few statements that follow).
    // SQLite has one writer at a time, so what is visible is all there is.
    const holdAlertIds = (wait: "short" | "lockTimeout"): Effect.Effect<void, SqlError.SqlError> =>
      dialect !== "pg"
        ? Effect.void
        : wait === "short"
        ? Effect.andThen(sql`SET LOCAL lock_timeout = '200ms'`, sql`LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE`).pipe(Effect.asVoid)
        : Effect.asVoid(sql`LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE`)

    const registerNotifiers = (names: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const unique = Array.from(new Set(names))
        if (unique.length === 0) return
        if (unique.some((name) => name.length === 0)) {
          return yield* new StoreError.StorageFailure({ operation: "registerNotifiers", detail: "a notifier name is empty" })
        }
        const now = yield* Clock.currentTimeMillis
        yield* transaction(Effect.gen(function*() {
          const known = new Set<string>()
          for (const chunk of chunks(unique, chunkSize)) {
            const rows = yield* sql<{ name: unknown }>`SELECT name FROM notifiers WHERE ${sql.in("name", chunk)}`
            for (const row of rows) known.add(String(row.name))
          }
          const missing = unique.filter((name) => !known.has(name))
          if (missing.length === 0) return
          yield* holdAlertIds("lockTimeout")
          // below the oldest alert not yet delivered everywhere; else past the newest
          const [row] = yield* sql<{ pending: unknown; top: unknown }>`SELECT
            (SELECT min(id) FROM alerts WHERE sent_at IS NULL) AS pending,
            (SELECT max(id) FROM alerts) AS top`
          const pending = numOrNull(row?.pending)
          const watermark = pending !== null ? pending - 1 : numOrNull(row?.top) ?? 0
          for (const chunk of chunks(missing, chunkSize)) {
            yield* sql`INSERT INTO notifiers ${
              sql.insert(nonEmpty(chunk.map((name) => ({ name, watermark, registered_at: now }))))
            } ON CONFLICT (name) DO NOTHING`
          }
        }))
      }).pipe(
        Effect.mapError((error) => error instanceof StoreError.StorageFailure ? error : failed("registerNotifiers")(error)),
        Effect.withSpan("Store.registerNotifiers")
      )

    // An alert is pending for a notifier when it is above the notifier's
    // watermark, not yet delivered everywhere (the partial index
    // `alerts_pending`), and not delivered by this notifier.
    const claim = (notifier: string, limit: number, leaseMillis: number) =>
      Effect.gen(function*() {
        const [registered] = yield* sql<{ watermark: unknown }>`SELECT watermark FROM notifiers WHERE name = ${notifier}`
        if (registered === undefined) {
          return yield* new StoreError.StorageFailure({
            operation: "deliver",
            detail: `notifier ${JSON.stringify(notifier)} is not registered (registerNotifiers first)`
          })
        }
        const now = yield* Clock.currentTimeMillis
        // The conflict clause re-checks the claim on the row as it is now: on
        // Postgres, a deliverer that waited for another's insert sees its claim.
        const claimed = yield* sql<{ alert_id: unknown }>`INSERT INTO deliveries (alert_id, notifier, claimed_until)
          SELECT a.id, CAST(${notifier} AS TEXT), CAST(${now + leaseMillis} AS BIGINT) FROM alerts a
          WHERE a.id > ${num(registered.watermark)} AND a.sent_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.notifier = ${notifier}
              AND (d.sent_at IS NOT NULL OR d.claimed_until > ${now})
          )
          ORDER BY a.id LIMIT ${limit}
          ON CONFLICT (alert_id, notifier) DO UPDATE SET claimed_until = excluded.claimed_until
          WHERE deliveries.sent_at IS NULL AND (deliveries.claimed_until IS NULL OR deliveries.claimed_until <= ${now})
          RETURNING alert_id`
        if (claimed.length === 0) return []
        const rows = yield* sql`SELECT ${sql.literal(alertColumns)} FROM alerts a JOIN targets t ON t.id = a.target_id WHERE ${
          sql.in("a.id", claimed.map((row) => num(row.alert_id)))
        } ORDER BY a.id`
        return rows.map(toAlert)
      })

    // Delivered by this notifier; sent, once every registered notifier has it
    // (delivered, or it was done before the notifier's watermark).
    const markDelivered = (notifier: string, alertId: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        dialect === "sqlite" ? markDeliveredSqlite(notifier, alertId, now) : transaction(Effect.gen(function*() {
          // Two notifiers finishing the same alert at once: the second waits
          // for the first and then sees its delivery, so one of them sets sent_at.
          yield* sql`SELECT id FROM alerts WHERE id = ${alertId} FOR UPDATE`
          const marked = yield* sql`UPDATE deliveries SET sent_at = ${now}, claimed_until = NULL, attempts = attempts + 1
            WHERE alert_id = ${alertId} AND notifier = ${notifier} AND sent_at IS NULL RETURNING alert_id`
          if (marked.length === 0) return 0
          const [, sentEverywhere, lastDelivered] = markStatements(notifier, alertId, now)
          yield* sentEverywhere!
          yield* lastDelivered!
          return 1
        })))

    // The three updates of a delivery mark (Postgres runs the first with RETURNING, above); on
    // SQLite as one atomic batch: one step (one message to a worker-backed client, where a
    // transaction is five), run once per alert delivered. SQLite has one
    // writer at a time, so no row lock is needed; the later updates change nothing when the first
    // found the delivery marked already — this pass claimed it, so only a lease run out while it
    // was delivered (the alert was sent twice then) gets it counted here too.
    const markStatements = (notifier: string, alertId: number, now: number) => [
      sql`UPDATE deliveries SET sent_at = ${now}, claimed_until = NULL, attempts = attempts + 1
        WHERE alert_id = ${alertId} AND notifier = ${notifier} AND sent_at IS NULL`,
      sql`UPDATE alerts SET sent_at = ${now} WHERE id = ${alertId} AND sent_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM notifiers n WHERE n.watermark < ${alertId} AND NOT EXISTS (
          SELECT 1 FROM deliveries d WHERE d.alert_id = ${alertId} AND d.notifier = n.name AND d.sent_at IS NOT NULL
        )
      )`,
      sql`UPDATE notifiers SET last_delivered_at = ${now} WHERE name = ${notifier}`
    ]
    const markDeliveredSqlite = (notifier: string, alertId: number, now: number) =>
      Effect.as(Sqlite.executeBatch(sql, markStatements(notifier, alertId, now)), 1)

    /** Records alerts delivered for a notifier together: on SQLite one batch, elsewhere one by one. */
    const markAll = (notifier: string, alertIds: ReadonlyArray<number>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        dialect === "sqlite"
          ? Sqlite.executeBatch(sql, alertIds.flatMap((alertId) => markStatements(notifier, alertId, now)))
          : Effect.forEach(alertIds, (alertId) => markDelivered(notifier, alertId), { discard: true }))

    const recordFailure = (notifier: string, alertId: number, rest: ReadonlyArray<number>, error: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        transaction(Effect.gen(function*() {
          yield* sql`UPDATE deliveries SET claimed_until = NULL, attempts = attempts + 1, last_error = ${error}
            WHERE alert_id = ${alertId} AND notifier = ${notifier} AND sent_at IS NULL`
          yield* sql`UPDATE notifiers SET last_error = ${error}, last_error_at = ${now} WHERE name = ${notifier}`
          for (const chunk of chunks(rest, chunkSize)) {
            yield* sql`UPDATE deliveries SET claimed_until = NULL WHERE notifier = ${notifier} AND ${
              sql.in("alert_id", chunk)
            } AND sent_at IS NULL`
          }
        })))

    // Moves the watermark past the alerts done for this notifier, so the next
    // scan starts after them. Best effort on Postgres: when writers keep the
    // alert ids busy past a short wait, the watermark stays for this pass.
    const advanceWatermark = (notifier: string) =>
      transaction(Effect.gen(function*() {
        yield* holdAlertIds("short")
        const [current] = yield* sql<{ watermark: unknown }>`SELECT watermark FROM notifiers WHERE name = ${notifier}`
        if (current === undefined) return
        const watermark = num(current.watermark)
        const [next] = yield* sql<{ id: unknown }>`SELECT a.id FROM alerts a WHERE a.id > ${watermark} AND a.sent_at IS NULL AND NOT EXISTS (
          SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.notifier = ${notifier} AND d.sent_at IS NOT NULL
        ) ORDER BY a.id LIMIT 1`
        const [top] = yield* sql<{ id: unknown }>`SELECT max(id) AS id FROM alerts`
        const to = next !== undefined ? num(next.id) - 1 : numOrNull(top?.id) ?? watermark
        if (to > watermark) {
          yield* sql`UPDATE notifiers SET watermark = ${to} WHERE name = ${notifier} AND watermark < ${to}`
        }
      })).pipe(
        Effect.mapError(failed("deliver")),
        Effect.catchTag("DatabaseLocked", () => Effect.logDebug("notifier watermark not advanced: alert ids busy"))
      )

    /** Retries `effect` while it fails with a transient error, for up to `withinMillis` (capped backoff from 50 ms). */
    const retryTransient = <A>(effect: Effect.Effect<A, StoreError.DatabaseError>, withinMillis: number) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        let delay = 50
        while (true) {
          const result = yield* Effect.result(effect)
          if (result._tag === "Success") return result.success
          const now = yield* Clock.currentTimeMillis
          if (!StoreError.isTransient(result.failure) || now - started + delay > withinMillis) return yield* Effect.fail(result.failure)
          yield* Effect.sleep(delay)
          delay = Math.min(delay * 2, 2_000)
        }
      })

    const deliver = <E, R>(
      notifier: string,
      notify: (alert: Model.Alert) => Effect.Effect<unknown, E, R>,
      options: { readonly limit?: number | undefined; readonly leaseMillis?: number | undefined } = {}
    ): Effect.Effect<Delivery, StoreError.DatabaseError, R> =>
      Effect.gen(function*() {
        const leaseMillis = Math.max(1, Math.floor(options.leaseMillis ?? 60_000))
        const alerts = yield* claim(notifier, Math.max(1, Math.floor(options.limit ?? 100)), leaseMillis).pipe(Effect.mapError((error) => error instanceof StoreError.StorageFailure ? error : failed("deliver")(error)))
        let delivered = 0
        const skips: Array<number> = []
        const markSkipped = Effect.suspend(() =>
          // like a delivered alert's mark: retried through a lock or a lost connection within half the lease
          skips.length === 0
            ? Effect.void
            : retryTransient(Effect.mapError(markAll(notifier, skips.splice(0)), failed("deliver")), leaseMillis / 2)
        )
        for (let index = 0; index < alerts.length; index++) {
          const alert = alerts[index]!
          // Typed failures stop the pass; interruption (a crash) and defects
          // end it too, the alerts still claimed until their lease ends.
          const failure = yield* notify(alert).pipe(
            Effect.map((result) => result === skipped ? skipped : undefined),
            Effect.catch((error) => Effect.succeed({ error: errorText(error) }))
          )
          if (failure === skipped) {
            skips.push(alert.id)
            continue
          }
          if (failure !== undefined) {
            const skippedCount = skips.length
            yield* markSkipped
            yield* recordFailure(notifier, alert.id, alerts.slice(index + 1).map((a) => a.id), failure.error).pipe(
              Effect.mapError(failed("deliver"))
            )
            yield* Effect.logWarning("alert delivery failed; the notifier retries it next pass").pipe(
              Effect.annotateLogs({ notifier, key: alert.key, url: alert.url, error: failure.error })
            )
            delivered += skippedCount
            if (delivered > 0) yield* advanceWatermark(notifier)
            return { delivered, skipped: skippedCount, failed: 1, lastError: failure.error }
          }
          // Sent: a lock or a lost connection must not leave it unmarked (it would be sent
          // again once the lease ends), so marking is retried within half the lease.
          delivered += yield* retryTransient(Effect.mapError(markDelivered(notifier, alert.id), failed("deliver")), leaseMillis / 2)
        }
        const skippedCount = skips.length
        yield* markSkipped
        delivered += skippedCount
        if (delivered > 0) yield* advanceWatermark(notifier)
        return { delivered, skipped: skippedCount, failed: 0 }
      }).pipe(Effect.withSpan("Store.deliver", { attributes: { "trawl.notifier": notifier } }))

    const notifierStatus = () =>
      sql`SELECT n.name, n.last_error, n.last_error_at, n.last_delivered_at,
        (SELECT count(*) FROM alerts a WHERE a.id > n.watermark AND a.sent_at IS NULL AND NOT EXISTS (
          SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.notifier = n.name AND d.sent_at IS NOT NULL
        )) AS pending,
        (SELECT count(*) FROM deliveries d WHERE d.notifier = n.name AND d.sent_at IS NOT NULL) AS delivered
        FROM notifiers n ORDER BY n.name`.pipe(
        Effect.map((rows) =>
          rows.map((row) =>
            trusted(Model.NotifierStatus, {
              name: String(row.name),
              pending: num(row.pending),
              delivered: num(row.delivered),
              lastError: strOrNull(row.last_error),
              lastErrorAt: numOrNull(row.last_error_at),
              lastDeliveredAt: numOrNull(row.last_delivered_at)
            })
          )
        ),
        Effect.mapError(failed("notifierStatus"))
      )

    const startRun = () =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`INSERT INTO runs ${sql.insert({ started_at: now, status: "running" })} RETURNING *`).pipe(
          Effect.map(([row]) => toRun(row!)),
          Effect.mapError(failed("startRun"))
        )

    const finishRun = (
      id: number,
      summary: { readonly status: "finished" | "aborted"; readonly observations: number; readonly failures: number }
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql`UPDATE runs SET finished_at = ${now}, status = ${summary.status}, observations = ${summary.observations}, failures = ${summary.failures} WHERE id = ${id} RETURNING *`
        if (rows.length === 0) {
          return yield* new StoreError.StorageFailure({ operation: "finishRun", detail: `no run with id ${id}` })
        }
        return toRun(rows[0]!)
      }).pipe(Effect.mapError((error) => error._tag === "StorageFailure" ? error : failed("finishRun")(error)))

    const observationPages = (filter: ObservationFilter) => {
      const pageSize = Math.max(1, Math.min(filter.pageSize ?? 1000, 10_000))
      return Stream.paginate(0, (after: number) => {
        const clauses = [sql`o.id > ${after}`]
        if (filter.targetId !== undefined) clauses.push(sql`o.target_id = ${filter.targetId}`)
        if (filter.since !== undefined) clauses.push(sql`o.observed_at >= ${Math.floor(filter.since)}`)
        if (filter.until !== undefined) clauses.push(sql`o.observed_at < ${Math.floor(filter.until)}`)
        return sql`SELECT ${sql.literal(observationColumns)}, t.url AS url, t.group_name AS group_name FROM observations o JOIN targets t ON t.id = o.target_id WHERE ${
          sql.and(clauses)
        } ORDER BY o.id LIMIT ${pageSize}`.pipe(
          Effect.map((rows) =>
            [
              rows,
              rows.length < pageSize ? Option.none<number>() : Option.some(num(rows[rows.length - 1]!.id))
            ] as const
          ),
          Effect.mapError(failed("observations"))
        )
      })
    }

    const observations = (filter: ObservationFilter = {}) => Stream.map(observationPages(filter), toObservation)

    const exportObservations = (format: "jsonl" | "csv", filter: ObservationFilter = {}) => {
      const lines = Stream.map(observationPages(filter), (row) => {
        const observation = toObservation(row)
        const record = {
          id: observation.id,
          key: observation.key,
          targetId: observation.targetId,
          url: String(row.url),
          group: strOrNull(row.group_name),
          observedAt: new Date(observation.observedAt).toISOString(),
          outcome: observation.outcome,
          amount: observation.price?.amount ?? null,
          currency: observation.price?.currency ?? null,
          availability: observation.availability,
          httpStatus: observation.httpStatus,
          errorTag: observation.errorTag,
          source: observation.source,
          confidence: observation.confidence,
          contentHash: observation.contentHash
        }
        return format === "jsonl"
          ? JSON.stringify(record) + "\n"
          : exportColumns.map((column) => csvField(record[column])).join(",") + "\n"
      })
      return format === "csv" ? Stream.concat(Stream.make(exportColumns.join(",") + "\n"), lines) : lines
    }

    return {
      dialect,
      addTarget,
      addTargets,
      getTarget,
      setEnabled,
      updateTarget,
      targetByUrl,
      group,
      updateGroup,
      channels,
      channelRoutes,
      removeTarget,
      targetsRevision,
      dueTargets,
      recordObservations,
      history,
      searchTargets,
      alerts,
      statusCounts,
      registerNotifiers,
      deliver,
      notifierStatus,
      startRun,
      finishRun,
      observations,
      exportObservations
    } satisfies Service
  })

/**
 * Options of the SQLite store.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const options: Store.SqliteOptions = { filename: "./trawl.db" }
 * ```
 *
 * @since 0.1.0
 */
export interface SqliteOptions extends StoreOptions, SqliteClient.SqliteClientConfig {
  /**
   * Where the SQLite connection runs. `"worker"` (the default): in a worker
   * thread (`SqliteWorkerClient`), so statements and lock waits never block
   * the event loop; a worker that dies fails its transaction (rolled back)
   * and the next one runs on a fresh worker. `"main"`: on the calling thread
   * (`SqliteClient`), which saves starting a worker (a few milliseconds) and
   * the message round trip per statement, for short commands.
   */
  readonly thread?: "worker" | "main" | undefined
}

/**
 * The store on a SQLite file (WAL mode, busy timeout), its connection in a
 * worker thread unless `thread: "main"`. A file that is not a
 * database fails with `DatabaseCorrupt`, a lock held past the busy timeout
 * with `DatabaseLocked`, a newer schema with `SchemaTooNew`.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const StoreLive = Store.layerSqlite({ filename: "./trawl.db" })
 * const ForAShortCommand = Store.layerSqlite({ filename: "./trawl.db", thread: "main" })
 * ```
 *
 * @since 0.1.0
 */
export const layerSqlite = (
  options: SqliteOptions
): Layer.Layer<Store | SqlClient.SqlClient, StoreError.SchemaTooNew | StoreError.DatabaseError> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const database = options.database ?? options.filename
      const open: Effect.Effect<SqlClient.SqlClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =
        options.thread === "main" ? SqliteClient.make(options) : SqliteWorkerClient.make(options)
      const client = yield* Effect.mapError(open, (error) => StoreError.fromSqlError(error, database, "open"))
      const store = yield* Effect.provideService(make({ ...options, database }), SqlClient.SqlClient, client)
      return Context.make(Store, store).pipe(Context.add(SqlClient.SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * Options of the Postgres store.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const options: Store.PostgresOptions = { url: "postgres://trawl@127.0.0.1:5432/trawl", schema: "trawl" }
 * ```
 *
 * @since 0.1.0
 */
export interface PostgresOptions extends StoreOptions {
  /** A `postgres://` connection URL. */
  readonly url: string | Redacted.Redacted<string>
  /** Schema to keep the tables in (created if missing). Default: the server's search path. */
  readonly schema?: string | undefined
  /** Pool size. Default 10. */
  readonly maxConnections?: number | undefined
  /** Connection timeout, in milliseconds. Default 10,000. */
  readonly connectTimeout?: number | undefined
  /**
   * How long a statement waits for a lock another session holds before
   * failing with `DatabaseLocked`, in milliseconds. Default 10,000.
   */
  readonly lockTimeout?: number | undefined
}

/**
 * The store on Postgres, through `@effect/sql-pg`.
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const StoreLive = Store.layerPostgres({ url: process.env.TRAWL_POSTGRES_URL ?? "postgres://postgres@127.0.0.1/trawl" })
 * ```
 *
 * @since 0.1.0
 */
export const layerPostgres = (
  options: PostgresOptions
): Layer.Layer<Store | SqlClient.SqlClient, StoreError.SchemaTooNew | StoreError.DatabaseError> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const url = typeof options.url === "string" ? Redacted.make(options.url) : options.url
      const database = options.database ?? redactUrl(Redacted.value(url))
      const schema = options.schema
      if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
        return yield* new StoreError.StorageFailure({ operation: "open", detail: `invalid schema name ${schema}` })
      }
      if (schema !== undefined) {
        // The schema must exist before connections that search it are made.
        yield* Effect.scoped(Effect.gen(function*() {
          const admin = yield* PgClient.make({ url, maxConnections: 1, connectTimeout: options.connectTimeout ?? 10_000 })
          yield* admin`CREATE SCHEMA IF NOT EXISTS ${admin(schema)}`
        })).pipe(Effect.mapError((error) => StoreError.fromSqlError(error, database, "open")))
      }
      const client = yield* PgClient.make({
        url,
        maxConnections: options.maxConnections ?? 10,
        connectTimeout: options.connectTimeout ?? 10_000,
        applicationName: "trawl",
        startupParameters: {
          lock_timeout: String(Math.max(1, Math.floor(options.lockTimeout ?? 10_000))),
          ...(schema !== undefined ? { search_path: schema } : {})
        }
      }).pipe(Effect.mapError((error) => StoreError.fromSqlError(error, database, "open")))
      const store = yield* Effect.provideService(make({ ...options, database }), SqlClient.SqlClient, client)
      return Context.make(Store, store).pipe(Context.add(SqlClient.SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.password = ""
    return parsed.href
  } catch {
    return "postgres"
  }
}

/**
 * The store chosen by configuration: Postgres when `TRAWL_POSTGRES_URL` is set
 * (tables in `TRAWL_POSTGRES_SCHEMA` if given), else SQLite at `TRAWL_DB`
 * (default `./trawl.db`).
 *
 * @example
 * ```ts
 * import { Store } from "@trawl/store"
 *
 * const StoreLive = Store.layerConfig
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<
  Store | SqlClient.SqlClient,
  StoreError.SchemaTooNew | StoreError.DatabaseError | Config.ConfigError
> = Layer.unwrap(
  Effect.gen(function*() {
    const url = yield* Config.option(Config.Redacted("TRAWL_POSTGRES_URL"))
    const schema = yield* Config.option(Config.String("TRAWL_POSTGRES_SCHEMA"))
    const filename = yield* Config.String("TRAWL_DB").pipe(Config.withDefault("./trawl.db"))
    return Option.isSome(url)
      ? layerPostgres({ url: url.value, schema: Option.getOrUndefined(schema) })
      : layerSqlite({ filename })
  })
)
