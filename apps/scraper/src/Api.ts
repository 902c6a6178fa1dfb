/**
 * The HTTP JSON API, version 1, served by the dashboard (`effect/http`
 * routes): read what the store holds, a page at a time.
 *
 * - `GET /api/v1/targets?q=&page=&size=` — targets whose URL contains `q`
 *   (any case), by id: `{ total, page, size, targets }` (size 1–200, default 50);
 * - `GET /api/v1/targets/:id` — one target;
 * - `GET /api/v1/targets/:id/history?from=&to=&limit=` — its observations
 *   with `from` ≤ time < `to` (epoch ms), newest first, at most `limit`
 *   (1–10,000, default 1,000);
 * - `GET /api/v1/alerts?since=&kind=&target=&limit=` — alerts raised at or
 *   after `since`, newest first (limit 1–1,000, default 100).
 *
 * - `POST /api/v1/targets` — adds a target: `{ url, interval?, selector?,
 *   attribute?, regex?, alertRules?, confirm?, cooldown?, group? }`, checked
 *   as `trawl add` checks them (`201`, `409` for a URL already watched);
 * - `PATCH /api/v1/targets/:id` — changes `enabled`, `interval`, the
 *   extraction rules (`selector`/`attribute`/`regex`, or `rules: null` for
 *   none), the alerting (`alertRules`, `confirm`, `cooldown`, `group`) and
 *   `mute`.
 *
 * How a target alerts is written with one name per thing: a field the
 * target JSON shows is written under the same name (`alertRules`, `confirm`,
 * `group`), a span of time as the CLI takes it, as text (`interval: "10m"`,
 * `cooldown: "6h"`, `mute: "1d"`: muted from now for that long), shown
 * resolved (`intervalMillis`, `cooldownMillis`, `mutedUntil`).
 * `alertRules` is a list of rules or one text with `;` between them (the
 * `alert` column of a targets file); `null`, `[]` or `"defaults"` is the
 * defaults (shown as `[]`). `group: null` and `mute: null` lift them. A field
 * of another name is refused, naming the one to use.
 *
 * Writes need the dashboard's token whatever the address (`403` when none is
 * configured) and a JSON body of at most 64 KB with its length declared.
 * Query values are decoded with Schema; a bad one is `400` with
 * `{ "error": "BadRequest", "field", "message" }`, an unknown target `404`,
 * a store that cannot answer `503`. Times are epoch milliseconds, prices
 * exact decimal strings.
 *
 * @since 0.3.0
 */
import { Model, type Store } from "@trawl/store"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Option from "effect/Option"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import { type BadQuery, epochMillis, integer, param, pathId, searchParams, targetsQuery } from "./internal/query.ts"
import * as StoreAdapter from "./StoreAdapter.ts"
import * as TargetsFile from "./TargetsFile.ts"

/**
 * A request the API refuses: its status and the JSON body that says why.
 *
 * @since 0.3.0
 */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: 400 | 403 | 404 | 409 | 411 | 413 | 503
  readonly error: "BadRequest" | "Forbidden" | "NotFound" | "Conflict" | "LengthRequired" | "TooLarge" | "StoreUnavailable"
  readonly field?: string | undefined
  readonly message: string
}> {}

const jsonHeaders = { "cache-control": "no-store", "x-content-type-options": "nosniff" }

const respond = (body: unknown, status = 200) =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json; charset=utf-8", headers: jsonHeaders })

const refusal = (error: ApiError) =>
  respond({ error: error.error, ...(error.field === undefined ? {} : { field: error.field }), message: error.message }, error.status)

const storeUnavailable = (error: { readonly message: string }) =>
  new ApiError({ status: 503, error: "StoreUnavailable", message: error.message })

const money = (price: Model.Money | null) => price === null ? null : { amount: price.amount, currency: price.currency }

/**
 * A target as the API shows it.
 *
 * @example
 * ```ts
 * import { Api } from "@trawl/scraper"
 * import type { Model } from "@trawl/store"
 * declare const target: Model.Target
 * Api.targetJson(target).lastPrice
 * ```
 * @since 0.3.0
 */
export const targetJson = (target: Model.Target) => ({
  id: target.id,
  url: target.url,
  host: target.host,
  enabled: target.enabled,
  intervalMillis: target.intervalMillis,
  rules: target.rules,
  lastPrice: money(target.lastPrice),
  lastAvailability: target.lastAvailability,
  lastObservedAt: target.lastObservedAt,
  nextDueAt: target.nextDueAt,
  failureStreak: target.failureStreak,
  createdAt: target.createdAt,
  /** Canonical rule texts; `[]`: the defaults (change, back-in-stock, out-of-stock). */
  alertRules: target.alertRules,
  confirm: target.confirm,
  cooldownMillis: target.cooldownMillis,
  mutedUntil: target.mutedUntil,
  group: target.group
})

const observationJson = (observation: Model.Observation) => ({
  id: observation.id,
  observedAt: observation.observedAt,
  outcome: observation.outcome,
  price: money(observation.price),
  availability: observation.availability,
  httpStatus: observation.httpStatus,
  errorTag: observation.errorTag,
  source: observation.source,
  confidence: observation.confidence
})

const alertJson = (alert: Model.Alert) => ({
  id: alert.id,
  key: alert.key,
  targetId: alert.targetId,
  url: alert.url,
  kind: alert.kind,
  oldPrice: money(alert.oldPrice),
  newPrice: money(alert.newPrice),
  percent: alert.percent,
  failureStreak: alert.failureStreak,
  productName: alert.productName,
  createdAt: alert.createdAt,
  sentAt: alert.sentAt,
  rule: alert.rule
})

/** The most a write's JSON body may hold. */
const maxBodyBytes = 64 * 1024

/**
 * A write's body as a JSON object: its declared length at most 64 KB (a body
 * without one is refused rather than read without a bound).
 */
const jsonBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const length = Number(request.headers["content-length"] ?? Number.NaN)
  if (!Number.isFinite(length)) return yield* new ApiError({ status: 411, error: "LengthRequired", message: "a body needs a content-length" })
  if (length > maxBodyBytes) return yield* new ApiError({ status: 413, error: "TooLarge", message: `a body holds at most ${maxBodyBytes} bytes` })
  const text = yield* Effect.mapError(request.text, () => new ApiError({ status: 400, error: "BadRequest", message: "the body could not be read" }))
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return yield* new ApiError({ status: 400, error: "BadRequest", message: "the body is not JSON" })
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return yield* new ApiError({ status: 400, error: "BadRequest", message: "the body is not a JSON object" })
  }
  return body as Record<string, unknown>
})

/** Field `name` of a body decoded with `schema` (absent: undefined); a bad one names the field. */
const field = <A>(body: Record<string, unknown>, name: string, schema: Schema.Decoder<A>): Effect.Effect<A | undefined, ApiError> =>
  body[name] === undefined
    ? Effect.succeed(undefined)
    : Effect.mapError(
      Schema.decodeUnknownEffect(schema)(body[name]),
      (error) => new ApiError({ status: 400, error: "BadRequest", field: name, message: `${name}: ${error.message.split("\n")[0]}` })
    )

/** A target check's InputError (`--interval: …`) as a 400 naming the field. */
const fromInput = (name: string) => (error: { readonly input: string; readonly reason: string }) =>
  new ApiError({ status: 400, error: "BadRequest", field: error.input.startsWith("--") ? error.input.slice(2) : name, message: `${name}: ${error.reason}` })

const intervalOf = (text: string): Effect.Effect<number, ApiError> => {
  const interval = TargetsFile.parseInterval(text)
  return typeof interval === "string"
    ? Effect.fail(new ApiError({ status: 400, error: "BadRequest", field: "interval", message: `interval: ${interval}` }))
    : Effect.succeed(interval)
}

const rulesOf = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const selector = yield* field(body, "selector", Schema.String)
    const attribute = yield* field(body, "attribute", Schema.String)
    const regex = yield* field(body, "regex", Schema.String)
    return yield* Effect.mapError(
      TargetsFile.rulesFrom(Option.fromUndefinedOr(selector), Option.fromUndefinedOr(attribute), Option.fromUndefinedOr(regex)),
      fromInput("rules")
    )
  })

/** A 400 naming `name`: `name: reason`, the field said once (the CLI's reasons start with its own name). */
const badField = (name: string, reason: string) =>
  new ApiError({
    status: 400,
    error: "BadRequest",
    field: name,
    message: `${name}: ${reason.startsWith(`${name} `) ? reason.slice(name.length + 1) : reason}`
  })

/** Names a client may reach for, and the field the API takes instead (with how it is written). */
const insteadOf: Record<string, readonly [string, string]> = {
  alert: ["alertRules", "rules as a list, or one text with ; between them"],
  alerts: ["alertRules", "rules as a list, or one text with ; between them"],
  intervalMillis: ["interval", "a duration, e.g. \"10m\""],
  cooldownMillis: ["cooldown", "a duration, e.g. \"6h\""],
  mutedUntil: ["mute", "a duration from now, e.g. \"1d\", or null"]
}

/** Refuses a field that is not one of `known`, naming the one to use when it is a near miss. */
const onlyFields = (body: Record<string, unknown>, known: ReadonlyArray<string>, what: string) =>
  Effect.gen(function*() {
    for (const name of Object.keys(body)) {
      if (known.includes(name)) continue
      const instead = insteadOf[name]
      const hint = instead !== undefined && known.includes(instead[0]) ? `; use ${instead[0]} (${instead[1]})` : ""
      return yield* badField(name, `not a field of ${what}${hint}`)
    }
  })

const alertingFields = ["alertRules", "confirm", "cooldown", "group"]

/**
 * How a target alerts, from a write's body, checked by `trawl add`'s own
 * code (`TargetsFile.alertingFrom`): each field given, `alertRules` and
 * `group` null when they go back to none.
 */
const alertingOf = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const out: {
      alertRules?: ReadonlyArray<string> | null
      confirm?: number
      cooldownMillis?: number
      group?: string | null
    } = {}
    const rules = yield* Effect.mapError(
      field(body, "alertRules", Schema.NullOr(Schema.Union([Schema.String, Schema.Array(Schema.String)]))),
      () => badField("alertRules", "expected rules as a list of texts or one text with ; between them (null: the defaults)")
    )
    if (rules !== undefined) {
      const texts = rules === null ? [] : typeof rules === "string" ? [rules] : rules
      // "defaults", as `trawl rules --set defaults`
      const reset = texts.length === 1 && texts[0]!.trim().toLowerCase() === "defaults"
      const parsed = TargetsFile.alertingFrom({ alert: reset ? [] : texts })
      if (typeof parsed === "string") return yield* badField("alertRules", parsed)
      out.alertRules = parsed.alertRules ?? null
    }
    const confirm = yield* field(body, "confirm", Schema.Number)
    if (confirm !== undefined) {
      const parsed = TargetsFile.alertingFrom({ confirm })
      if (typeof parsed === "string") return yield* badField("confirm", parsed)
      out.confirm = parsed.confirm!
    }
    const cooldown = yield* field(body, "cooldown", Schema.String)
    if (cooldown !== undefined) {
      // "" is no duration here (in a targets file it is an empty column: none given)
      const parsed = cooldown.trim() === ""
        ? "'' is not a duration like 90s, 5m, 1h (\"0\" for none)"
        : TargetsFile.alertingFrom({ cooldown })
      if (typeof parsed === "string") return yield* badField("cooldown", parsed)
      out.cooldownMillis = parsed.cooldownMillis!
    }
    const group = yield* field(body, "group", Schema.NullOr(Schema.String))
    if (group !== undefined) {
      const parsed = TargetsFile.alertingFrom({ group })
      if (typeof parsed === "string") return yield* badField("group", parsed)
      // null or "" (as `trawl rules --group ''`): in no group
      out.group = parsed.group ?? null
    }
    return out
  })

/** `mute`: a duration from `now`, as `trawl mute --for` takes it, or null to lift the mute. */
const muteOf = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const mute = yield* field(body, "mute", Schema.NullOr(Schema.String))
    if (mute === undefined || mute === null) return mute
    const millis = TargetsFile.parseDuration(mute, { minMillis: 1000, bareUnit: "s" })
    if (typeof millis === "string") return yield* badField("mute", millis)
    return (yield* Clock.currentTimeMillis) + millis
  })

const notFound = (id: number) => new ApiError({ status: 404, error: "NotFound", message: `no target ${id}` })

const forbidden = new ApiError({
  status: 403,
  error: "Forbidden",
  message: "write endpoints need the dashboard's token: start it with --dashboard-token (or TRAWL_DASHBOARD_TOKEN)"
})

const handle = <R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError | BadQuery, R>) =>
  Effect.catch(effect, (error) =>
    Effect.succeed(refusal(
      error._tag === "ApiError" ? error : new ApiError({ status: 400, error: "BadRequest", field: error.field, message: error.message })
    )))

/**
 * The API's routes over a store, to merge into an `effect/http` router.
 *
 * @example
 * ```ts
 * import { Api } from "@trawl/scraper"
 * import type { Store } from "@trawl/store"
 * declare const store: Store.Service
 * const routes = Api.routes(store)
 * ```
 * @since 0.3.0
 */
export const routes = (store: Store.Service, options: { readonly writable: boolean } = { writable: false }) => {
  /** A store error about target `id` as the API answers it. */
  const aboutTarget = (id: number) => (error: { readonly _tag: string; readonly message: string }) =>
    error._tag === "TargetNotFound"
      ? notFound(id)
      : error._tag === "InvalidAlertRule"
      ? badField("alertRules", error.message)
      : storeUnavailable(error)
  const targetOf = (id: number) => Effect.mapError(store.getTarget(id), aboutTarget(id))
  return Layer.mergeAll(
    HttpRouter.add(
      "POST",
      "/api/v1/targets",
      handle(Effect.gen(function*() {
        if (!options.writable) return yield* forbidden
        const body = yield* jsonBody
        yield* onlyFields(body, ["url", "interval", "selector", "attribute", "regex", ...alertingFields], "a new target")
        const url = yield* field(body, "url", Schema.String)
        if (url === undefined) return yield* new ApiError({ status: 400, error: "BadRequest", field: "url", message: "url: missing" })
        const bad = TargetsFile.checkUrl(url)
        if (bad !== undefined) return yield* new ApiError({ status: 400, error: "BadRequest", field: "url", message: `url: ${bad}` })
        const intervalText = yield* field(body, "interval", Schema.String)
        const intervalMillis = yield* intervalOf(intervalText ?? "5m")
        const rules = yield* rulesOf(body)
        const alerting = yield* alertingOf(body)
        const target = yield* store.addTarget(new Model.NewTarget({
          url,
          intervalMillis,
          ...(rules === undefined ? {} : { rules: StoreAdapter.rulesToJson(rules) }),
          ...(alerting.alertRules == null ? {} : { alertRules: alerting.alertRules }),
          ...(alerting.confirm === undefined ? {} : { confirm: alerting.confirm }),
          ...(alerting.cooldownMillis === undefined ? {} : { cooldownMillis: alerting.cooldownMillis }),
          ...(alerting.group == null ? {} : { group: alerting.group })
        })).pipe(Effect.mapError((error) =>
          error._tag === "DuplicateTarget"
            ? new ApiError({ status: 409, error: "Conflict", field: "url", message: `url: ${error.message}` })
            : error._tag === "InvalidUrl"
            ? new ApiError({ status: 400, error: "BadRequest", field: "url", message: `url: ${error.message}` })
            : storeUnavailable(error)
        ))
        return respond(targetJson(target), 201)
      }))
    ),
    HttpRouter.add(
      "PATCH",
      "/api/v1/targets/:id",
      handle(Effect.gen(function*() {
        if (!options.writable) return yield* forbidden
        const id = yield* pathId
        const body = yield* jsonBody
        yield* onlyFields(
          body,
          ["enabled", "interval", "selector", "attribute", "regex", "rules", ...alertingFields, "mute"],
          "a target that can change"
        )
        const enabled = yield* field(body, "enabled", Schema.Boolean)
        const intervalText = yield* field(body, "interval", Schema.String)
        const intervalMillis = intervalText === undefined ? undefined : yield* intervalOf(intervalText)
        // "rules": null drops the user rules; selector / attribute / regex set new ones
        const cleared = yield* field(body, "rules", Schema.Null)
        const rules = yield* rulesOf(body)
        const alerting = yield* alertingOf(body)
        const mutedUntil = yield* muteOf(body)
        const target = yield* store.updateTarget(id, {
          enabled,
          intervalMillis,
          rules: rules === undefined ? cleared : StoreAdapter.rulesToJson(rules),
          ...alerting,
          mutedUntil
        }).pipe(Effect.mapError(aboutTarget(id)))
        return respond(targetJson(target))
      }))
    ),
    HttpRouter.add(
      "GET",
      "/api/v1/targets",
      handle(Effect.gen(function*() {
        const { offset, page, q, size } = yield* targetsQuery(yield* searchParams)
        const found = yield* Effect.mapError(store.searchTargets({ query: q, offset, limit: size }), storeUnavailable)
        return respond({ total: found.total, page, size, targets: found.targets.map(targetJson) })
      }))
    ),
    HttpRouter.add(
      "GET",
      "/api/v1/targets/:id",
      handle(Effect.gen(function*() {
        const id = yield* pathId
        return respond(targetJson(yield* targetOf(id)))
      }))
    ),
    HttpRouter.add(
      "GET",
      "/api/v1/targets/:id/history",
      handle(Effect.gen(function*() {
        const id = yield* pathId
        const params = yield* searchParams
        const from = yield* param(params, "from", epochMillis, 0)
        const to = yield* param(params, "to", epochMillis, undefined)
        const limit = yield* param(params, "limit", integer(1, 10_000), 1_000)
        if (to !== undefined && to < from) return yield* new ApiError({ status: 400, error: "BadRequest", field: "to", message: "to: before from" })
        yield* targetOf(id)
        const observations = yield* Effect.mapError(store.history(id, { since: from, until: to, limit }), storeUnavailable)
        return respond({ targetId: id, from, to: to ?? null, observations: observations.map(observationJson) })
      }))
    ),
    HttpRouter.add(
      "GET",
      "/api/v1/alerts",
      handle(Effect.gen(function*() {
        const params = yield* searchParams
        const since = yield* param(params, "since", epochMillis, 0)
        const kind = yield* param(params, "kind", Model.AlertKind, undefined)
        const target = yield* param(params, "target", integer(1, Number.MAX_SAFE_INTEGER), undefined)
        const limit = yield* param(params, "limit", integer(1, 1_000), 100)
        const alerts = yield* Effect.mapError(store.alerts({ since, kind, targetId: target, limit }), storeUnavailable)
        return respond({ alerts: alerts.map(alertJson) })
      }))
    )
  )
}
