/**
 * The `trawl` command line.
 *
 * Exit codes (stable, for scripts):
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | an unexpected internal error (a bug: please report it) |
 * | 2 | usage: unknown command or flag, bad flag value |
 * | 3 | input: unreadable file, invalid URL, a page that could not be fetched or extracted |
 * | 4 | database: cannot open, locked, corrupt, newer schema, unreachable Postgres |
 * | 5 | some input rows were rejected (the valid ones were imported) |
 * | 6 | a run aborted: a part of trawl kept failing (a supervisor's restart intensity was exceeded) |
 *
 * @since 0.1.0
 */
import { AddressGuard, Fetcher } from "@trawl/fetch"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Model, Rates, Store, StoreError } from "@trawl/store"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Argument, Command, Flag } from "effect/cli"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Channel from "./Channel.ts"
import * as Extractor from "./Extractor.ts"
import { InputError, RowsRejected, UsageError } from "./Errors.ts"
import * as Dashboard from "./Dashboard.ts"
import * as Demo from "./Demo.ts"
import { ensureDir } from "./internal/files.ts"
import * as Monitor from "./Monitor.ts"
import * as Notifier from "./Notifier.ts"
import * as StoreAdapter from "./StoreAdapter.ts"
import * as StoreWriter from "./StoreWriter.ts"
import * as TargetsFile from "./TargetsFile.ts"
import * as ProductJson from "./ProductJson.ts"
import * as Settings from "./Settings.ts"
import * as Telemetry from "./Telemetry.ts"

// -----------------------------------------------------------------------------
// shared flags
// -----------------------------------------------------------------------------

const isIp = (address: string) => net.isIP(address) !== 0

/** Parses `GLOB=IP` pairs. */
export const parseResolve = (entries: ReadonlyArray<string>): Effect.Effect<Record<string, string>, InputError> =>
  Effect.forEach(entries, (entry) => {
    const at = entry.lastIndexOf("=")
    const pattern = entry.slice(0, at).trim()
    const address = entry.slice(at + 1).trim()
    return at <= 0 || pattern === "" || !isIp(address)
      ? Effect.fail(new InputError({ input: "--resolve", reason: `expected 'GLOB=IP', got '${entry}'` }))
      : Effect.succeed([pattern, address] as const)
  }).pipe(Effect.map((pairs) => Object.fromEntries(pairs)))

const fetcherLayer = (resolve: Record<string, string>, allowPrivate: boolean) =>
  Fetcher.layer({ resolve, allowRanges: allowPrivate ? AddressGuard.allRanges : [] })

// -----------------------------------------------------------------------------
// trawl extract
// -----------------------------------------------------------------------------

const extract = Command.make("extract", {
  source: Argument.String("FILE|URL").pipe(Argument.withDescription("An HTML file, or an http(s) URL to fetch")),
  url: Flag.String("url").pipe(Flag.optional, Flag.withDescription("The page's URL, for a file (resolves relative links, names the product)")),
  selector: Flag.String("selector").pipe(Flag.optional, Flag.withDescription("CSS selector of the price element (a user rule)")),
  attribute: Flag.String("attribute").pipe(Flag.optional, Flag.withDescription("Read the price from this attribute of the selected element")),
  regex: Flag.String("regex").pipe(Flag.optional, Flag.withDescription("Regular expression whose first group is the price")),
  resolve: Settings.resolve,
  allowPrivate: Settings.allowPrivate
}, (input) =>
  Effect.gen(function*() {
    const rules = yield* TargetsFile.rulesFrom(input.selector, input.attribute, input.regex)
    const isUrl = /^https?:\/\//i.test(input.source)
    const request = isUrl
      ? yield* fetchForExtract(input.source, yield* parseResolve(input.resolve), input.allowPrivate)
      : yield* readForExtract(input.source, Option.getOrUndefined(input.url))
    const extractor = yield* Extractor.Extractor
    const product = yield* extractor.extract({ ...request, rules }).pipe(
      Effect.mapError((error) => new InputError({ input: input.source, reason: error.message }))
    )
    yield* Console.log(JSON.stringify(ProductJson.render(product), null, 2))
  }).pipe(Effect.provide(Extractor.layerLocal))).pipe(
    Command.withDescription("Extract the product and price from a page, and print it as JSON (the tool to debug a target)")
  )

const readForExtract = (file: string, url: string | undefined) =>
  Effect.tryPromise({
    try: () => fs.readFile(file),
    catch: (error) => new InputError({ input: file, reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message })
  }).pipe(Effect.map((body) => ({
    url: url ?? pathToFileURL(path.resolve(file)).href,
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    charset: ""
  })))

const fetchForExtract = (url: string, resolve: Record<string, string>, allowPrivate: boolean) =>
  Effect.gen(function*() {
    const fetcher = yield* Fetcher.Fetcher
    const page = yield* fetcher.fetchPage(url).pipe(
      Effect.mapError((error) => new InputError({ input: url, reason: `${error._tag}: ${error.message}` }))
    )
    return { url: page.url, body: page.body, ownsBuffer: true, charset: page.charset }
  }).pipe(Effect.provide(fetcherLayer(resolve, allowPrivate)))

// -----------------------------------------------------------------------------
// the store
// -----------------------------------------------------------------------------

/** SQLite at `db`, or Postgres when a URL is given. */
/**
 * How long a monitor's SQLite statements wait for another process's write
 * lock. node:sqlite waits out a busy database synchronously, on the event
 * loop: a run waiting 5 s (the store's default, right for one-shot commands)
 * would freeze every fiber for as long as the lock is held. A run waits
 * 50 ms at most and retries asynchronously instead (`StoreWriter`, the
 * notifier actors' backoff), so it keeps fetching through the lock.
 */
const monitorBusyTimeout = "50 millis"

const storeLayer = (
  db: string,
  postgres: Option.Option<string>,
  schema: Option.Option<string> = Option.none(),
  options: { readonly busyTimeout?: Duration.Input; readonly rates?: Rates.Rates | undefined } = {}
) => {
  const rates = options.rates === undefined ? {} : { rates: options.rates }
  return Option.isSome(postgres)
    ? Store.layerPostgres({ url: Redacted.make(postgres.value), ...(Option.isSome(schema) ? { schema: schema.value } : {}), ...rates })
    : Layer.unwrap(Effect.gen(function*() {
      yield* Effect.tryPromise({
        try: () => ensureDir(path.dirname(db)),
        catch: (error) => new InputError({ input: db, reason: `cannot create its directory: ${(error as Error).message}` })
      })
      return Store.layerSqlite({ filename: db, ...(options.busyTimeout === undefined ? {} : { busyTimeout: options.busyTimeout }), ...rates })
    }))
}

/** Reads `--rates`: none when not given; a file that cannot be read or used is an `InputError` of one line. */
const ratesOf = (file: Option.Option<string>): Effect.Effect<Rates.Rates | undefined, InputError> =>
  Option.isNone(file)
    ? Effect.succeed(undefined)
    : Effect.tryPromise({
      try: () => fs.readFile(file.value, "utf8"),
      catch: (error) =>
        new InputError({ input: file.value, reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message })
    }).pipe(Effect.flatMap((text) => {
      const parsed = Rates.parse(text)
      return Result.isSuccess(parsed)
        ? Effect.succeed(parsed.success)
        : Effect.fail(new InputError({ input: file.value, reason: parsed.failure.message }))
    }))

const storeFlags = { db: Settings.db, postgres: Settings.postgres, postgresSchema: Settings.postgresSchema }

const withStore = <A, E, R>(
  flags: { readonly db: string; readonly postgres: Option.Option<string>; readonly postgresSchema: Option.Option<string> },
  effect: Effect.Effect<A, E, R>
) => Effect.provide(effect, storeLayer(flags.db, flags.postgres, flags.postgresSchema))

const formatTime = (millis: number | null) => millis === null ? "-" : new Date(millis).toISOString().replace(/\.\d+Z$/, "Z")

const money = (price: Model.Money | null) => price === null ? "-" : `${price.amount} ${price.currency}`

/** `--alert` (repeatable), `--confirm`, `--cooldown`, `--notify` (repeatable): how a target or a group alerts (`trawl add`, `trawl rules`, `trawl group`). */
const alertingFlags = {
  alert: Flag.String("alert").pipe(
    Flag.atLeast(0),
    Flag.withDescription("An alert rule (repeatable): 'below 100 EUR', 'above 80', 'drop 10%', 'rise 5%', change, back-in-stock, out-of-stock")
  ),
  confirm: Flag.String("confirm").pipe(Flag.optional, Flag.withDescription("A change counts after this many readings in a row agree (1-100, default 1)")),
  cooldown: Flag.String("cooldown").pipe(Flag.optional, Flag.withDescription("At most one alert per rule within this long, e.g. 6h (default none)")),
  // no fallback to TRAWL_NOTIFY or the config file: those are the run's channels, not every target's
  notify: Flag.String("notify").pipe(
    Flag.atLeast(0),
    Flag.withDescription(
      "An alert channel of its own (repeatable; 'none' for none): slack+https://…, discord+https://…, ntfy+https://host/topic, telegram://TOKEN@CHAT_ID, https://… (webhook), file:alerts.jsonl; it gets only these alerts"
    )
  )
}

/** Only the fields that are set: a Schema class refuses `undefined` for an optional field. */
const definedOnly = <A extends object>(value: A): { [K in keyof A]: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as never

/** The alerting flags, checked: a bad one is an `InputError` naming the flag (exit 2). */
const alertingOf = (input: {
  readonly alert: ReadonlyArray<string>
  readonly confirm: Option.Option<string>
  readonly cooldown: Option.Option<string>
  readonly group?: Option.Option<string>
  readonly notify?: ReadonlyArray<string>
}, alertFlag = "--alert") => {
  const alerting = TargetsFile.alertingFrom({
    alert: input.alert.length === 0 ? undefined : input.alert,
    confirm: Option.getOrUndefined(input.confirm),
    cooldown: Option.getOrUndefined(input.cooldown),
    group: input.group === undefined ? undefined : Option.getOrUndefined(input.group),
    notify: input.notify === undefined || input.notify.length === 0 ? undefined : input.notify
  })
  if (typeof alerting !== "string") return Effect.succeed(definedOnly(alerting))
  const flag = alerting.startsWith("alert rule") ? alertFlag : `--${alerting.split(" ")[0]}`
  return Effect.fail(new UsageError({ flag, reason: alerting }))
}

/** The watched target of a URL given on the command line, or an `InputError`. */
const targetOfUrl = (text: string) =>
  Effect.gen(function*() {
    const store = yield* Store.Store
    const wanted = TargetsFile.checkUrl(text) === undefined ? new URL(text).href : text
    const found = yield* store.targetByUrl(wanted)
    if (Option.isNone(found)) return yield* Effect.fail(new InputError({ input: text, reason: "not a watched target (see trawl targets)" }))
    return found.value
  })

const intervalFlag = Flag.String("interval").pipe(
  Flag.withDefault("5m"),
  Flag.withDescription("How often to check the target: 90s, 5m, 1h (default 5m)")
)

// -----------------------------------------------------------------------------
// trawl add / import / targets / status / history / export
// -----------------------------------------------------------------------------

const add = Command.make("add", {
  ...storeFlags,
  url: Argument.String("URL").pipe(Argument.withDescription("The product page to watch (http or https)")),
  interval: intervalFlag,
  selector: Flag.String("selector").pipe(Flag.optional, Flag.withDescription("CSS selector of the price element")),
  attribute: Flag.String("attribute").pipe(Flag.optional, Flag.withDescription("Read the price from this attribute")),
  regex: Flag.String("regex").pipe(Flag.optional, Flag.withDescription("Regular expression whose first group is the price")),
  ...alertingFlags,
  group: Flag.String("group").pipe(Flag.optional, Flag.withDescription("Competitor group: the same product at several shops"))
}, (input) =>
  withStore(input, Effect.gen(function*() {
    const bad = TargetsFile.checkUrl(input.url)
    if (bad !== undefined) return yield* Effect.fail(new InputError({ input: input.url, reason: bad }))
    const interval = TargetsFile.parseInterval(input.interval)
    if (typeof interval === "string") return yield* Effect.fail(new InputError({ input: "--interval", reason: interval }))
    const rules = yield* TargetsFile.rulesFrom(input.selector, input.attribute, input.regex)
    const alerting = yield* alertingOf(input)
    const store = yield* Store.Store
    const target = yield* store.addTarget(new Model.NewTarget({
      url: input.url,
      intervalMillis: interval,
      ...(rules === undefined ? {} : { rules: StoreAdapter.rulesToJson(rules) }),
      ...alerting
    })).pipe(Effect.mapError((error) =>
      error._tag === "DuplicateTarget" || error._tag === "InvalidUrl" ? new InputError({ input: input.url, reason: error.message }) : error
    ))
    yield* Console.log(`added target ${target.id}: ${target.url} every ${input.interval}${target.alertRules.length === 0 ? "" : `, alerts: ${target.alertRules.join("; ")}`}${
      target.notify.length === 0 ? "" : `, notify: ${channelsText(target.notify)}`
    }`)
  }))).pipe(Command.withDescription("Watch a product page"))

/** Imports a targets file into the store: valid rows added, broken and duplicate rows reported by line. */
const importTargets = (file: string) =>
  Effect.gen(function*() {
    const { rejected, rows } = yield* TargetsFile.read(file)
    const store = yield* Store.Store
    const refused: Array<TargetsFile.Rejected> = [...rejected]
    let imported = 0
    for (const row of rows) {
      const rules = yield* TargetsFile.rulesFrom(Option.fromUndefinedOr(row.selector), Option.none(), Option.fromUndefinedOr(row.regex)).pipe(
        Effect.orElseSucceed(() => undefined)
      )
      const added = yield* Effect.result(store.addTarget(new Model.NewTarget({
        url: row.url,
        intervalMillis: row.intervalMillis,
        ...(rules === undefined ? {} : { rules: StoreAdapter.rulesToJson(rules) }),
        ...definedOnly(row.alerting)
      })))
      if (added._tag === "Success") {
        imported++
      } else if (added.failure._tag === "DuplicateTarget" || added.failure._tag === "InvalidUrl") {
        refused.push({ line: row.line, reason: added.failure.message })
      } else {
        return yield* Effect.fail(added.failure)
      }
    }
    refused.sort((a, b) => a.line - b.line)
    for (const row of refused) yield* Console.error(`${file}:${row.line}: ${row.reason}`)
    yield* Console.log(`imported ${imported} target(s) from ${file}${refused.length > 0 ? `, rejected ${refused.length}` : ""}`)
    if (refused.length > 0) {
      return yield* Effect.fail(new RowsRejected({ input: file, rejected: refused.length, accepted: imported }))
    }
  })

const importCommand = Command.make("import", {
  ...storeFlags,
  file: Argument.String("FILE").pipe(Argument.withDescription("CSV with the header url,interval,selector,regex — or JSON lines"))
}, (input) => withStore(input, importTargets(input.file))).pipe(
  Command.withDescription("Import targets from a CSV or JSONL file (valid rows are imported, broken ones reported by line)")
)

const targetsCommand = Command.make("targets", { ...storeFlags }, (input) =>
  withStore(input, Effect.gen(function*() {
    const store = yield* Store.Store
    const targets = yield* StoreAdapter.allTargets(store)
    yield* Console.log(["id", "url", "interval", "next due", "last price", "failures"].join("\t"))
    for (const t of targets) {
      yield* Console.log([t.id, t.url, `${Math.round(t.intervalMillis / 1000)}s`, formatTime(t.nextDueAt), money(t.lastPrice), t.failureStreak].join("\t"))
    }
  }))).pipe(Command.withDescription("List the watched targets"))

const status = Command.make("status", { ...storeFlags }, (input) =>
  withStore(input, Effect.gen(function*() {
    const store = yield* Store.Store
    const counts = yield* store.statusCounts(yield* Clock.currentTimeMillis)
    for (const [label, value] of Object.entries(counts)) yield* Console.log(`${label.padEnd(14)} ${value}`)
    for (const notifier of yield* store.notifierStatus()) {
      // an error older than the last delivery is history, not the notifier's state
      const error = notifier.lastError === null || (notifier.lastErrorAt ?? 0) <= (notifier.lastDeliveredAt ?? 0)
        ? ""
        : ` · last error ${formatTime(notifier.lastErrorAt)}: ${notifier.lastError}`
      yield* Console.log(`notifier       ${notifier.name}: ${notifier.pending} pending, ${notifier.delivered} delivered${error}`)
    }
  }))).pipe(Command.withDescription("Counts of targets, due, failing, observations and alerts; pending alerts per notifier"))

const dashboard = Command.make("dashboard", {
  ...storeFlags,
  port: Flag.Int("port").pipe(Flag.withDefault(8088), Flag.withDescription("Port on the dashboard's address (default 8088; 0 = any free port)")),
  dashboardHost: Settings.dashboardHost,
  dashboardToken: Settings.dashboardToken
}, (input) =>
  withStore(input, Effect.gen(function*() {
    const store = yield* Store.Store
    const { url } = yield* Dashboard.serve(undefined, {
      port: input.port,
      host: input.dashboardHost,
      ...(Option.isSome(input.dashboardToken) ? { token: Redacted.value(input.dashboardToken.value) } : {}),
      store
    })
    yield* Console.error(`dashboard on ${url} (no run: the database as it is; SIGINT or SIGTERM stops it)`)
    // served until a signal: the server closes with this scope
    yield* Effect.callback<void>((resume) => {
      const stop = () => resume(Effect.void)
      process.once("SIGINT", stop)
      process.once("SIGTERM", stop)
      return Effect.sync(() => {
        process.off("SIGINT", stop)
        process.off("SIGTERM", stop)
      })
    })
  }).pipe(Effect.scoped))).pipe(Command.withDescription("Serve the dashboard and the JSON API over a database, without a run"))

/** 21600000 → "6h", 5400000 → "1h30m": the largest units that add up exactly. */
const formatDuration = (millis: number) => {
  let rest = Math.round(millis)
  let text = ""
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`
      rest %= size
    }
  }
  return text === "" ? "0s" : text
}

/** Alert channels as they may be shown: each by its notifier's name (as `trawl status` names it), never its URL. */
const channelsText = (urls: ReadonlyArray<string>) => urls.length === 0 ? "none" : urls.map(Channel.describe).join(", ")

const describeAlerting = (target: Model.Target) => {
  const lines = [
    `target ${target.id}: ${target.url}`,
    `alert rules    ${target.alertRules.length === 0 ? "(defaults) change; back-in-stock; out-of-stock" : target.alertRules.join("; ")}`,
    `confirm        ${target.confirm}`,
    `cooldown       ${target.cooldownMillis === 0 ? "none" : formatDuration(target.cooldownMillis)}`,
    `muted until    ${target.mutedUntil === null ? "not muted" : formatTime(target.mutedUntil)}`,
    `group          ${target.group ?? "-"}`,
    `notify         ${channelsText(target.notify)}${target.notify.length === 0 ? "" : " (this target's alerts only)"}`
  ]
  return Console.log(lines.join("\n"))
}

const rulesCommand = Command.make("rules", {
  ...storeFlags,
  url: Argument.String("URL").pipe(Argument.withDescription("A watched target's URL")),
  set: Flag.String("set").pipe(
    Flag.atLeast(0),
    Flag.withDescription("Replace the target's alert rules with these (repeatable; 'defaults' for none of its own)")
  ),
  confirm: alertingFlags.confirm,
  cooldown: alertingFlags.cooldown,
  group: Flag.String("group").pipe(Flag.optional, Flag.withDescription("Put the target in this competitor group ('' for none)")),
  notify: alertingFlags.notify.pipe(Flag.withDescription("Replace the target's own alert channels with these (repeatable; 'none' for none)"))
}, (input) =>
  withStore(input, Effect.gen(function*() {
    const target = yield* targetOfUrl(input.url)
    const reset = input.set.length === 1 && input.set[0]!.trim().toLowerCase() === "defaults"
    const alerting = yield* alertingOf({
      alert: reset ? [] : input.set,
      confirm: input.confirm,
      cooldown: input.cooldown,
      group: Option.filter(input.group, (group) => group !== ""),
      notify: input.notify
    }, "--set")
    const changes: Store.TargetChanges = {
      ...(reset ? { alertRules: null } : alerting.alertRules === undefined ? {} : { alertRules: alerting.alertRules }),
      ...(alerting.confirm === undefined ? {} : { confirm: alerting.confirm }),
      ...(alerting.cooldownMillis === undefined ? {} : { cooldownMillis: alerting.cooldownMillis }),
      ...(Option.isSome(input.group) ? { group: input.group.value === "" ? null : alerting.group ?? null } : {}),
      ...(alerting.notify === undefined ? {} : { notify: alerting.notify.length === 0 ? null : alerting.notify })
    }
    const store = yield* Store.Store
    const updated = Object.keys(changes).length === 0 ? target : yield* store.updateTarget(target.id, changes)
    yield* describeAlerting(updated)
  }))).pipe(Command.withDescription("Show a target's alert rules, or change them (--set, --confirm, --cooldown, --group, --notify)"))

const mute = Command.make("mute", {
  ...storeFlags,
  url: Argument.String("URL").pipe(Argument.withDescription("A watched target's URL")),
  for: Flag.String("for").pipe(Flag.optional, Flag.withDescription("Silence the target's alerts for this long, e.g. 1d or 6h")),
  off: Flag.Boolean("off").pipe(Flag.withDefault(false), Flag.withDescription("Lift the mute"))
}, (input) =>
  withStore(input, Effect.gen(function*() {
    const target = yield* targetOfUrl(input.url)
    if (input.off === Option.isSome(input.for)) {
      return yield* Effect.fail(new UsageError({ flag: "--for", reason: "give either --for DURATION or --off" }))
    }
    let mutedUntil: number | null = null
    if (Option.isSome(input.for)) {
      const millis = TargetsFile.parseDuration(input.for.value, { minMillis: 1000, bareUnit: "s" })
      if (typeof millis === "string") return yield* Effect.fail(new UsageError({ flag: "--for", reason: millis }))
      mutedUntil = (yield* Clock.currentTimeMillis) + millis
    }
    const store = yield* Store.Store
    const updated = yield* store.updateTarget(target.id, { mutedUntil })
    yield* Console.log(
      updated.mutedUntil === null ? `target ${updated.id}: alerts on again` : `target ${updated.id}: alerts muted until ${formatTime(updated.mutedUntil)}`
    )
  }))).pipe(Command.withDescription("Silence a target's alerts for a while (--for 1d), or lift it (--off)"))

const groupCommand = Command.make("group", {
  ...storeFlags,
  name: Argument.String("NAME").pipe(Argument.withDescription("The competitor group (targets added with --group NAME)")),
  rates: Settings.rates,
  ...alertingFlags,
  mute: Flag.String("mute").pipe(Flag.optional, Flag.withDescription("Silence the group's own alerts for this long, e.g. 1d ('0' lifts it)"))
}, (input) =>
  Effect.gen(function*() {
    const rates = yield* ratesOf(input.rates)
    const alerting = yield* alertingOf(input)
    let mutedUntil: number | null | undefined
    if (Option.isSome(input.mute)) {
      const millis = TargetsFile.parseDuration(input.mute.value, { minMillis: 0, bareUnit: "s" })
      if (typeof millis === "string") return yield* Effect.fail(new UsageError({ flag: "--mute", reason: millis }))
      mutedUntil = millis === 0 ? null : (yield* Clock.currentTimeMillis) + millis
    }
    return yield* Effect.provide(
      Effect.gen(function*() {
        const store = yield* Store.Store
        const changes = {
          ...(alerting.alertRules === undefined ? {} : { alertRules: alerting.alertRules }),
          ...(alerting.confirm === undefined ? {} : { confirm: alerting.confirm }),
          ...(alerting.cooldownMillis === undefined ? {} : { cooldownMillis: alerting.cooldownMillis }),
          ...(mutedUntil === undefined ? {} : { mutedUntil }),
          ...(alerting.notify === undefined ? {} : { notify: alerting.notify })
        }
        if (Object.keys(changes).length > 0) yield* store.updateGroup(input.name, changes)
        const found = yield* store.group(input.name)
        if (Option.isNone(found)) {
          return yield* Effect.fail(new InputError({ input: input.name, reason: "no target is in this group (trawl add URL --group NAME)" }))
        }
        yield* Console.log(groupReport(found.value, rates))
      }),
      storeLayer(input.db, input.postgres, input.postgresSchema, { rates })
    )
  })).pipe(Command.withDescription("A competitor group: each shop's latest price and availability, the best offer; --alert sets the group's own rules, --notify its alert channels"))

/** `trawl group`'s report: one line per shop, the best offer, what was compared and how. */
const groupReport = (group: Model.Group, rates: Rates.Rates | undefined) => {
  const best = group.offers.find((offer) => offer.targetId === group.best)
  const lines = [["shop", "price", "availability", group.currency === null ? "compared" : `in ${group.currency}`, "observed", "url"].join("\t")]
  for (const offer of group.offers) {
    lines.push([
      `${offer.targetId === group.best ? "*" : " "} ${offer.host}`,
      money(offer.price),
      offer.availability,
      offer.compared ?? "-",
      formatTime(offer.lastObservedAt),
      offer.url
    ].join("\t"))
  }
  lines.push(best === undefined
    ? `best offer: none in stock with a comparable price`
    : `best offer: ${best.compared} ${group.currency} at ${best.host} (${best.url})`)
  lines.push(rates !== undefined
    ? `compared in ${rates.base} with the rates of ${rates.date}`
    : group.currency === null
    ? "no prices yet"
    : `no rates given (--rates): only offers in ${group.currency} are compared`)
  lines.push(`group alert rules: ${group.alertRules.length === 0 ? "none (its shops alert by their own)" : group.alertRules.join("; ")}${
    group.confirm > 1 ? `, confirm ${group.confirm}` : ""
  }${group.cooldownMillis > 0 ? `, cooldown ${formatDuration(group.cooldownMillis)}` : ""}${
    group.mutedUntil === null ? "" : `, muted until ${formatTime(group.mutedUntil)}`
  }`)
  lines.push(`group notify: ${group.notify.length === 0 ? "none (run-level channels only)" : `${channelsText(group.notify)} (the group's alerts and its shops')`}`)
  return lines.join("\n")
}

const history = Command.make("history", {
  ...storeFlags,
  url: Argument.String("URL").pipe(Argument.withDescription("A watched target's URL")),
  limit: Flag.Int("limit").pipe(Flag.withDefault(50), Flag.withDescription("Most recent observations to show (default 50)"))
}, (input) =>
  withStore(input, Effect.gen(function*() {
    const store = yield* Store.Store
    const target = yield* targetOfUrl(input.url)
    const observations = yield* store.history(target.id, { limit: input.limit })
    yield* Console.log(["observed", "outcome", "price", "availability", "status", "error"].join("\t"))
    for (const o of observations) {
      // an ambiguous reading shows the prices in contention where a price would be
      const price = o.ambiguity === null
        ? money(o.price)
        : o.ambiguity.candidates.map((c) => `${c.amount}${c.currency === null ? "" : ` ${c.currency}`} (${c.source})`).join(" | ")
      yield* Console.log([formatTime(o.observedAt), o.outcome, price, o.availability, o.httpStatus ?? "-", o.errorTag ?? o.ambiguity?.reason ?? ""].join("\t"))
    }
  }))).pipe(Command.withDescription("Price history of one target, newest first"))

const exportCommand = Command.make("export", {
  ...storeFlags,
  format: Flag.Literals("format", ["jsonl", "csv"] as const).pipe(Flag.withDefault("jsonl" as const), Flag.withDescription("jsonl (default) or csv"))
}, (input) =>
  withStore(input, Effect.gen(function*() {
    const store = yield* Store.Store
    yield* Stream.runForEach(store.exportObservations(input.format), (line) =>
      Effect.promise(() => new Promise<void>((resolve) => {
        if (process.stdout.write(line)) resolve()
        else process.stdout.once("drain", () => resolve())
      })))
  }))).pipe(Command.withDescription("Export every observation as JSON lines or CSV (streamed)"))

// -----------------------------------------------------------------------------
// trawl run
// -----------------------------------------------------------------------------

const runFlags = {
  ...storeFlags,
  targets: Flag.String("targets").pipe(Flag.optional, Flag.withDescription("Import this targets file first (CSV or JSONL)")),
  once: Flag.Boolean("once").pipe(Flag.withDefault(false), Flag.withDescription("One pass over every due target, print a summary, exit")),
  all: Flag.Boolean("all").pipe(Flag.withDefault(false), Flag.withDescription("With --once: visit every enabled target now, due or not")),
  concurrency: Settings.concurrency,
  perHost: Settings.perHost,
  workers: Settings.workers,
  resolve: Settings.resolve,
  allowPrivate: Settings.allowPrivate,
  dashboard: Flag.Int("dashboard").pipe(
    Flag.withOptionalValue("8088"),
    Flag.optional,
    Flag.withDescription("Serve the dashboard (live view, /metrics) on 127.0.0.1: --dashboard (port 8088) or --dashboard=PORT (0 = any free port)")
  ),
  dashboardHost: Settings.dashboardHost,
  dashboardToken: Settings.dashboardToken,
  webhook: Settings.webhook,
  alertsFile: Settings.alertsFile,
  notify: Settings.notify,
  rates: Settings.rates,
  userAgent: Settings.userAgent,
  noRobots: Settings.noRobots,
  timeout: Settings.timeout,
  storeOutageBudget: Settings.storeOutageBudget,
  otlp: Settings.otlp,
  duration: Flag.String("duration").pipe(Flag.optional, Flag.withDescription("Stop by itself after this long (e.g. 10m), as if interrupted")),
  quiet: Flag.Boolean("quiet").pipe(Flag.withDefault(false), Flag.withDescription("Do not print alerts on stdout"))
}

/** The Fetcher for a run's settings. */
const runFetcher = (input: {
  readonly concurrency: number
  readonly perHost: number
  readonly userAgent: Option.Option<string>
  readonly noRobots: boolean
  readonly allowPrivate: boolean
}, resolve: Record<string, string>, timeoutMillis: number) =>
  Fetcher.layer({
    totalTimeoutMillis: timeoutMillis,
    headersTimeoutMillis: Math.max(1, Math.round(timeoutMillis / 2)),
    connectTimeoutMillis: Math.min(10_000, timeoutMillis),
    globalConcurrency: input.concurrency,
    perHostConcurrency: input.perHost,
    robots: !input.noRobots,
    resolve,
    allowRanges: input.allowPrivate ? AddressGuard.allRanges : [],
    ...(Option.isSome(input.userAgent) ? { userAgent: input.userAgent.value } : {})
  })

const positive = (name: string, value: number, min = 1) =>
  Number.isSafeInteger(value) && value >= min ? Effect.void : Effect.fail(new InputError({ input: name, reason: `must be an integer ≥ ${min}, got ${value}` }))

/**
 * Runs the monitor with the given flags (shared by `run` and `demo`).
 *
 * @since 0.1.0
 */
export const runMonitor = (input: CommandInput<typeof runFlags>) =>
  Effect.gen(function*() {
    yield* positive("--concurrency", input.concurrency)
    yield* positive("--per-host", input.perHost)
    yield* positive("--workers", input.workers, 0)
    const resolve = yield* parseResolve(input.resolve)
    const rates = yield* ratesOf(input.rates)
    const timeoutMillis = parseDuration(input.timeout)
    if (typeof timeoutMillis === "string") return yield* Effect.fail(new InputError({ input: "--timeout", reason: timeoutMillis }))
    let durationMillis: number | undefined
    if (Option.isSome(input.duration)) {
      const parsed = parseDuration(input.duration.value)
      if (typeof parsed === "string") return yield* Effect.fail(new InputError({ input: "--duration", reason: parsed }))
      durationMillis = parsed
    }
    const outageBudgetMillis = parseDuration(input.storeOutageBudget)
    if (typeof outageBudgetMillis === "string") {
      return yield* Effect.fail(new InputError({ input: "--store-outage-budget", reason: outageBudgetMillis }))
    }
    const telemetry = yield* Telemetry.fromConfig(input.otlp)
    if (Option.isSome(input.targets)) {
      yield* withStore(input, importTargets(input.targets.value)).pipe(
        Effect.catchTag("RowsRejected", (error) => Effect.logWarning(error.message))
      )
    }
    if (Option.isSome(input.webhook)) {
      const bad = TargetsFile.checkUrl(input.webhook.value)
      if (bad !== undefined) return yield* Effect.fail(new InputError({ input: "--webhook", reason: bad }))
    }
    const extractor = input.workers === 0 ? Extractor.layerLocal : Extractor.layerWorker({ workers: input.workers })
    const monitor = Effect.gen(function*() {
      // built inside the run's scope: the webhook's HTTP client lives as long as the run
      const notifiers: Array<Notifier.Notifier> = input.quiet ? [] : [Notifier.stdout]
      if (Option.isSome(input.alertsFile)) notifiers.push(yield* Notifier.jsonlFile(input.alertsFile.value))
      if (Option.isSome(input.webhook)) notifiers.push(yield* Notifier.webhook({ url: input.webhook.value }))
      // a channel that --webhook or --alerts-file already names (the same name) is not delivered to twice
      for (const channel of input.notify) {
        if (!notifiers.some((notifier) => notifier.name === channel.name)) notifiers.push(yield* Channel.notifier(channel))
      }
      notifiers.push(...yield* namedChannels(notifiers, outageBudgetMillis))
      return yield* Monitor.run({
        once: input.once,
        all: input.all,
        notifiers,
        fetchFibers: Math.min(input.concurrency, 4096),
        tty: process.stderr.isTTY === true,
        outageBudgetMillis,
        ...(Option.isSome(input.dashboard) ? { dashboardPort: input.dashboard.value } : {}),
        dashboardHost: input.dashboardHost,
        ...(Option.isSome(input.dashboardToken) ? { dashboardToken: Redacted.value(input.dashboardToken.value) } : {}),
        ...(durationMillis === undefined ? {} : { durationMillis })
      })
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(
        // A database locked by another process when the run starts is waited for, like an outage.
        // A server that cannot be reached at all at start is more likely a wrong address than a
        // restart: that fails at once (exit 4); once running, every transient error is ridden out.
        StoreWriter.opening(storeLayer(input.db, input.postgres, input.postgresSchema, { busyTimeout: monitorBusyTimeout, rates }), {
          isTransient: (error) => error._tag === "DatabaseLocked",
          budgetMillis: outageBudgetMillis,
          what: "the store's opening"
        }),
        runFetcher(input, resolve, timeoutMillis),
        extractor,
        NodeHttpClient.layerUndici
      ))
    )
    // outermost: built first and closed last, so the run's last spans and metrics are exported
    return yield* (telemetry === undefined ? monitor : Effect.provide(monitor, Telemetry.layer(telemetry)))
  })

/**
 * The notifiers of the channels named on targets and groups (read once, at
 * the run's start): each delivers only the alerts routed to it. One the run
 * names itself (the same notifier name) is left to the run's, which delivers
 * everything; one that names no usable channel is logged (redacted) and left out.
 */
const namedChannels = (runLevel: ReadonlyArray<Notifier.Notifier>, outageBudgetMillis: number) =>
  Effect.gen(function*() {
    const store = yield* Store.Store
    const urls = yield* StoreWriter.ride(store.channels, {
      isTransient: StoreError.isTransient,
      budgetMillis: outageBudgetMillis,
      what: "the channels named on targets and groups"
    })
    if (urls.length === 0) return []
    const router = yield* Channel.router(store.channelRoutes)
    const routed: Array<Notifier.Notifier> = []
    const delivered = new Set(runLevel.map((notifier) => notifier.name))
    for (const url of urls) {
      const parsed = yield* Effect.result(Channel.parse(url))
      if (parsed._tag === "Failure") {
        yield* Effect.logWarning(`a channel named on a target or group is left out: ${parsed.failure.message}`)
        continue
      }
      const channel = parsed.success
      if (delivered.has(channel.name)) continue
      delivered.add(channel.name)
      routed.push(Channel.routed(yield* Channel.notifier(channel), router))
    }
    if (routed.length > 0) {
      yield* Effect.logInfo(`channels named on targets and groups (their alerts only): ${routed.map((notifier) => notifier.name).join(", ")}`)
    }
    return routed
  })

/** A duration for --duration and --timeout: 90s, 10m, 1h (seconds when bare; not below one second). */
const parseDuration = (text: string) => TargetsFile.parseDuration(text, { minMillis: 1000, bareUnit: "s" })

/** The parsed input of a command built from these flags. */
type CommandInput<F> = { readonly [K in keyof F]: F[K] extends Flag.Flag<infer A> ? A : never }

const run = Command.make("run", runFlags, (input) => Effect.asVoid(runMonitor(input))).pipe(
  Command.withDescription("Monitor the targets: continuously, or one pass with --once")
)

// -----------------------------------------------------------------------------
// trawl demo
// -----------------------------------------------------------------------------

const demo = Command.make("demo", {
  shops: Flag.Int("shops").pipe(Flag.withDefault(500), Flag.withDescription("Simulated shops (default 500)")),
  products: Flag.Int("products").pipe(Flag.withDefault(4), Flag.withDescription("Products per shop (default 4)")),
  duration: Flag.String("duration").pipe(Flag.optional, Flag.withDescription("Stop by itself after this long (e.g. 60s) and exit 0")),
  db: Flag.String("db").pipe(Flag.withDefault("./trawl-demo.db"), Flag.withDescription("Demo database (default ./trawl-demo.db, recreated unless --keep)")),
  keep: Flag.Boolean("keep").pipe(Flag.withDefault(false), Flag.withDescription("Keep the demo database of an earlier run")),
  alertsFile: Flag.String("alerts-file").pipe(Flag.withDefault("./trawl-demo-alerts.jsonl"), Flag.withDescription("Alerts as JSON lines (default ./trawl-demo-alerts.jsonl)")),
  workers: Settings.workers,
  simPort: Flag.Int("sim-port").pipe(Flag.withDefault(0), Flag.withDescription("Port of the simulated web (default: any free port)")),
  seed: Flag.Int("seed").pipe(Flag.withDefault(42), Flag.withDescription("Seed of the simulated web (default 42)"))
}, (input) =>
  Effect.gen(function*() {
    const options: Demo.Options = {
      shops: input.shops,
      products: input.products,
      db: input.db,
      keep: input.keep,
      clockSpeed: 60,
      seed: input.seed,
      hostileFraction: 0.02,
      intervalMillis: 10_000,
      simPort: input.simPort
    }
    yield* Demo.check(options)
    yield* positive("--workers", input.workers, 0)
    let durationMillis: number | undefined
    if (Option.isSome(input.duration)) {
      const parsed = parseDuration(input.duration.value)
      if (typeof parsed === "string") return yield* Effect.fail(new InputError({ input: "--duration", reason: parsed }))
      durationMillis = parsed
    }
    yield* Demo.prepareDatabase(input.db, input.keep)
    const extractor = input.workers === 0 ? Extractor.layerLocal : Extractor.layerWorker({ workers: input.workers })
    yield* Effect.gen(function*() {
      const { description } = yield* Demo.setUp(options)
      yield* Console.error(JSON.stringify(description))
      yield* Console.error(
        `trawl demo: watching ${options.shops * options.products} products on ${options.shops} simulated shops; prices move every few seconds. Ctrl-C to stop.`
      )
      const alerts = yield* Notifier.jsonlFile(input.alertsFile)
      yield* Monitor.run({
        once: false,
        notifiers: [Notifier.stdout, alerts],
        fetchFibers: 256,
        tty: process.stderr.isTTY === true,
        drainMillis: 10_000,
        ...(durationMillis === undefined ? {} : { durationMillis })
      })
      yield* Console.error(`trawl demo: done. Try: npx trawl history <url> --db ${input.db}  ·  npx trawl export --db ${input.db}`)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(
        storeLayer(input.db, Option.none(), Option.none(), { busyTimeout: monitorBusyTimeout }),
        Fetcher.layer({ resolve: { "*.sim.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostConcurrency: 2 }),
        extractor
      ))
    )
  })).pipe(Command.withDescription("Watch trawl monitor a simulated web of shops, offline, in a few seconds"))

// -----------------------------------------------------------------------------
// the command tree
// -----------------------------------------------------------------------------

/**
 * The root `trawl` command.
 *
 * @since 0.1.0
 */
export const trawl = Command.make("trawl").pipe(
  Command.withDescription("trawl — continuous price monitoring"),
  Command.withSubcommands([run, demo, add, importCommand, targetsCommand, rulesCommand, mute, groupCommand, status, history, exportCommand, extract, dashboard])
)

/**
 * Every failure a command can end with.
 *
 * @since 0.1.0
 */
export type CommandError = StoreError.StoreError | InputError | UsageError | RowsRejected
